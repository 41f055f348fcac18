"""The reinstatement workflow of DESIGN.md, step by step, through its services."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from deliverability import reinstatement as flow
from deliverability.models import AuditEvent, ReinstatementRequest, School, Suppression, SuppressionChange
from deliverability.reinstatement import RequestRefused
from deliverability.services import AlreadyDecided, ServiceError, record_bounce
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

EMAIL = "anna.nowak@example.org"
REASON = "The client confirmed she cleared her mailbox yesterday."


def hard(
    email: str = EMAIL,
    *,
    reason: str = "mailbox_not_found",
    school: School | None = None,
    days_ago: float = 1,
    message: str = "m1",
    domain_mta: str = "",
    event_type: str = "hard",
) -> Any:
    return record_bounce(
        email=email,
        source="api:platform",
        source_event_id=f"{message}-{reason}-{days_ago}",
        occurred_at=timezone.now() - timedelta(days=days_ago),
        event_type=event_type,
        reason=reason,
        sender_side=False,
        school=school,
        message_id=f"<{message}>",
        remote_mta=domain_mta,
    )


@pytest.fixture
def blocked(school_a: School) -> Suppression:
    ContactFactory(school=school_a, email=EMAIL)
    hard(reason="mailbox_full", event_type="soft")
    for i, day in enumerate([6, 5, 4, 3, 2]):
        hard(reason="mailbox_full", event_type="soft", days_ago=day, message=f"s{i}")
    return Suppression.objects.active().get(email=EMAIL)


def submit(owner: User, school: School, **kw: Any) -> ReinstatementRequest:
    fields = {"email": EMAIL, "what_changed": "mailbox_cleared", "reason": REASON, "language": "pl"}
    fields.update(kw)
    return flow.submit_reinstatement_request(school=school, requested_by=owner, **fields)


# --- submitting ----------------------------------------------------------------------------


def test_an_owner_asks_for_a_blocked_contact(blocked: Suppression, owner_a: User, school_a: School) -> None:
    request = submit(owner_a, school_a, email=" Anna.Nowak@EXAMPLE.org ")
    assert (request.status, request.email, request.language, request.outcome) == ("pending", EMAIL, "pl", "")
    assert AuditEvent.objects.filter(action="request.submitted", target_id=str(request.pk)).count() == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"reason": "too short reason"}, "reason", "at least 20 characters"),
        ({"reason": " " * 30}, "reason", "at least 20 characters"),
        ({"reason": "x" * 5001}, "reason", "5,000"),
        ({"what_changed": "magic"}, "what_changed", "Choose what changed"),
        ({"email": "not an address"}, "email", "missing @"),
        ({"email": "a\x00b@example.org"}, "email", "control characters"),
    ],
)
def test_bad_input_is_refused_beside_its_field(
    blocked: Suppression, owner_a: User, school_a: School, fields: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(RequestRefused, match=message) as refused:
        submit(owner_a, school_a, **fields)
    assert refused.value.field == field
    assert not ReinstatementRequest.objects.exists()


def test_nul_bytes_in_the_reason_are_dropped(blocked: Suppression, owner_a: User, school_a: School) -> None:
    request = submit(owner_a, school_a, reason="The client\x00 confirmed it works again now.")
    assert "\x00" not in request.reason


def test_only_an_owner_of_the_school_may_ask(blocked: Suppression, owner_b: User, school_a: School) -> None:
    with pytest.raises(PermissionDenied):
        submit(owner_b, school_a)
    assert not ReinstatementRequest.objects.exists()


def test_only_for_the_schools_own_contacts(blocked: Suppression, owner_b: User, school_b: School) -> None:
    with pytest.raises(RequestRefused, match="not one of your school's contacts"):
        submit(owner_b, school_b)


def test_only_for_a_suppression_that_applies_to_the_school(owner_a: User, school_a: School, school_b: School) -> None:
    ContactFactory(school=school_a, email=EMAIL)
    hard(reason="sender_blocked", school=school_b)  # blocks school B only
    with pytest.raises(RequestRefused, match="not blocked for your school"):
        submit(owner_a, school_a)


def test_one_open_request_per_address_and_school(blocked: Suppression, owner_a: User, school_a: School) -> None:
    submit(owner_a, school_a)
    with pytest.raises(RequestRefused, match="already waiting"):
        submit(owner_a, school_a)
    assert ReinstatementRequest.objects.count() == 1


def test_a_complaint_only_with_the_recipients_consent(owner_a: User, school_a: School) -> None:
    ContactFactory(school=school_a, email=EMAIL)
    hard(reason="complaint", event_type="complaint", school=school_a)
    with pytest.raises(RequestRefused, match="confirmed they want") as refused:
        submit(owner_a, school_a, what_changed="mailbox_cleared")
    assert refused.value.field == "what_changed"
    assert submit(owner_a, school_a, what_changed="wants_mail").status == "pending"


def test_the_daily_limit_per_school(settings: Any, owner_a: User, school_a: School) -> None:
    settings.DELIVERABILITY = {**settings.DELIVERABILITY, "REQUEST_DAILY_LIMIT": 2}
    for i in range(3):
        ContactFactory(school=school_a, email=f"c{i}@example.org")
        hard(f"c{i}@example.org", message=f"c{i}")
    submit(owner_a, school_a, email="c0@example.org")
    submit(owner_a, school_a, email="c1@example.org")
    with pytest.raises(RequestRefused, match="today's limit"):
        submit(owner_a, school_a, email="c2@example.org")


# --- deciding ------------------------------------------------------------------------------


def test_approval_lifts_platform_and_school_suppressions_and_starts_probation(
    blocked: Suppression,
    owner_a: User,
    school_a: School,
    school_b: School,
    lead: User,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner_a.email = "owner@school-a.example"
    owner_a.save(update_fields=["email"])
    hard(reason="complaint", event_type="complaint", school=school_b, message="other")  # school B's own
    hard(reason="sender_blocked", school=school_a, message="own", days_ago=0.5)
    request = submit(owner_a, school_a, what_changed="mailbox_cleared")
    with django_capture_on_commit_callbacks(execute=True):
        decided = flow.approve_reinstatement_request(request=request, acting_user=lead, note="Checked: fixed.")
    assert (decided.status, decided.outcome, decided.decided_by, decided.decision_note) == (
        "approved",
        "probation",
        lead,
        "Checked: fixed.",
    )
    assert decided.probation_ends_at is not None
    assert timedelta(days=29) < decided.probation_ends_at - timezone.now() <= timedelta(days=30)
    remaining = Suppression.objects.active().filter(email=EMAIL)
    assert [(s.school_id, s.reason) for s in remaining] == [(school_b.pk, "complaint")]
    assert set(decided.lifted_suppressions.values_list("reason", flat=True)) == {"soft_bounce_limit", "sender_blocked"}
    assert SuppressionChange.objects.filter(email=EMAIL, change="lifted").count() == 2
    assert AuditEvent.objects.filter(action="request.approved").count() == 1
    assert LogEntry.objects.filter(object_id=str(request.pk), user=lead).count() == 1
    (mail,) = mailoutbox
    assert mail.to == ["owner@school-a.example"] and EMAIL in mail.subject and "Checked: fixed." in mail.body


def test_rejection_keeps_the_suppression(
    blocked: Suppression,
    owner_a: User,
    school_a: School,
    support: User,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner_a.email = "owner@school-a.example"
    owner_a.save(update_fields=["email"])
    request = submit(owner_a, school_a)
    with django_capture_on_commit_callbacks(execute=True):
        flow.reject_reinstatement_request(request=request, acting_user=support, note="Bounced again this week.")
    request.refresh_from_db()
    assert (request.status, request.outcome) == ("rejected", "")
    assert Suppression.objects.active().filter(email=EMAIL).count() == 1
    assert len(mailoutbox) == 1 and "Bounced again this week." in mailoutbox[0].body


@pytest.mark.parametrize("decide", [flow.approve_reinstatement_request, flow.reject_reinstatement_request])
def test_a_decision_needs_a_note(
    blocked: Suppression, owner_a: User, school_a: School, support: User, decide: Any
) -> None:
    request = submit(owner_a, school_a)
    with pytest.raises(ServiceError, match="note"):
        decide(request=request, acting_user=support, note=" \x00 ")
    request.refresh_from_db()
    assert request.status == "pending"


def test_nobody_decides_their_own_request(blocked: Suppression, school_a: School, owner_a: User) -> None:
    owner_a.is_staff = True
    owner_a.save(update_fields=["is_staff"])
    owner_a.groups.add(Group.objects.get(name="Deliverability leads"))
    owner_a = User.objects.get(pk=owner_a.pk)  # fresh permission cache
    request = submit(owner_a, school_a)
    with pytest.raises(PermissionDenied, match="themselves"):
        flow.approve_reinstatement_request(request=request, acting_user=owner_a, note="fine")
    assert Suppression.objects.active().filter(email=EMAIL).count() == 1


def test_owners_cannot_decide(blocked: Suppression, school_a: School, owner_a: User, owner_b: User) -> None:
    request = submit(owner_a, school_a)
    with pytest.raises(PermissionDenied):
        flow.approve_reinstatement_request(request=request, acting_user=owner_b, note="fine")


def test_high_risk_needs_a_lead(owner_a: User, school_a: School, support: User, lead: User) -> None:
    ContactFactory(school=school_a, email=EMAIL)
    hard(reason="complaint", event_type="complaint", school=school_a)
    request = submit(owner_a, school_a, what_changed="wants_mail")
    assert flow.assess_risk(request).high
    with pytest.raises(PermissionDenied, match="high risk"):
        flow.approve_reinstatement_request(request=request, acting_user=support, note="ok")
    request.refresh_from_db()
    assert request.status == "pending" and Suppression.objects.active().filter(email=EMAIL).exists()
    flow.approve_reinstatement_request(request=request, acting_user=lead, note="She wrote to us herself.")
    assert not Suppression.objects.active().filter(email=EMAIL).exists()


@pytest.mark.parametrize(
    "transition",
    [
        lambda r, u: flow.approve_reinstatement_request(request=r, acting_user=u, note="again"),
        lambda r, u: flow.reject_reinstatement_request(request=r, acting_user=u, note="again"),
    ],
    ids=["approve", "reject"],
)
@pytest.mark.parametrize("first", ["approved", "rejected", "withdrawn"])
def test_a_decided_request_cant_be_decided_again(
    blocked: Suppression, owner_a: User, school_a: School, support: User, first: str, transition: Any
) -> None:
    request = submit(owner_a, school_a)
    if first == "approved":
        flow.approve_reinstatement_request(request=request, acting_user=support, note="ok")
    elif first == "rejected":
        flow.reject_reinstatement_request(request=request, acting_user=support, note="no")
    else:
        flow.withdraw_reinstatement_request(request=request, acting_user=owner_a)
    before = (AuditEvent.objects.count(), SuppressionChange.objects.count(), Suppression.objects.active().count())
    with pytest.raises(AlreadyDecided):
        transition(request, support)
    with pytest.raises(AlreadyDecided):
        flow.withdraw_reinstatement_request(request=request, acting_user=owner_a)
    assert (
        AuditEvent.objects.count(),
        SuppressionChange.objects.count(),
        Suppression.objects.active().count(),
    ) == before
    request.refresh_from_db()
    assert request.status == first


def test_withdraw_only_by_an_owner_of_the_school(
    blocked: Suppression, owner_a: User, owner_b: User, school_a: School
) -> None:
    request = submit(owner_a, school_a)
    with pytest.raises(PermissionDenied):
        flow.withdraw_reinstatement_request(request=request, acting_user=owner_b)
    assert flow.withdraw_reinstatement_request(request=request, acting_user=owner_a).status == "withdrawn"


# --- risk, rule by rule --------------------------------------------------------------------


def _request(school: School, email: str = EMAIL) -> ReinstatementRequest:
    return ReinstatementRequest(
        school=school, email=email, requested_by=UserFactory(), what_changed="other", reason=REASON
    )


def test_risk_normal(blocked: Suppression, school_a: School) -> None:
    assert flow.assess_risk(_request(school_a)) == flow.Risk(high=False, reasons=[])


def test_risk_complaint(school_a: School) -> None:
    hard(reason="complaint", event_type="complaint", school=school_a)
    assert "spam" in flow.assess_risk(_request(school_a)).reasons[0]


def test_risk_recent_mailbox_not_found_at_a_major_provider(school_a: School) -> None:
    hard("someone@gmail.com", days_ago=10)
    assert "major mailbox provider" in flow.assess_risk(_request(school_a, "someone@gmail.com")).reasons[0]
    # Hosted at Google, seen from the receiving host.
    hard("someone@school.example", days_ago=10, domain_mta="aspmx.l.google.com", message="m2")
    assert flow.assess_risk(_request(school_a, "someone@school.example")).high
    # Older than 30 days, or a small provider: not this rule.
    hard("old@gmail.com", days_ago=40, message="m3")
    hard("someone@tiny.example", days_ago=5, message="m4")
    assert not flow.assess_risk(_request(school_a, "old@gmail.com")).high
    assert not flow.assess_risk(_request(school_a, "someone@tiny.example")).high


def test_risk_earlier_failed_reinstatement(school_a: School) -> None:
    ReinstatementRequest.objects.create(
        school=school_a,
        email=EMAIL,
        requested_by=UserFactory(),
        what_changed="other",
        reason=REASON,
        status="approved",
        outcome="failed",
    )
    assert "failed" in flow.assess_risk(_request(school_a)).reasons[0]


def test_risk_more_than_one_hard_bounce_in_90_days(school_a: School) -> None:
    hard(reason="rejected", days_ago=80, message="a")
    assert not flow.assess_risk(_request(school_a)).high
    hard(reason="rejected", days_ago=3, message="b")
    assert flow.assess_risk(_request(school_a)).reasons == ["2 hard bounces in the last 90 days."]


# --- probation -----------------------------------------------------------------------------


def test_a_hard_bounce_during_probation_resuppresses_and_blocks_new_requests(
    blocked: Suppression, owner_a: User, school_a: School, support: User
) -> None:
    request = submit(owner_a, school_a)
    flow.approve_reinstatement_request(request=request, acting_user=support, note="ok")
    assert not Suppression.objects.active().filter(email=EMAIL).exists()
    hard(reason="rejected", days_ago=0, message="after")  # a first strike, normally
    assert Suppression.objects.active().filter(email=EMAIL).count() == 1
    request.refresh_from_db()
    assert request.outcome == "failed"
    eligibility = flow.request_eligibility(school=school_a, email=EMAIL)
    assert not eligibility.allowed and "failed" in eligibility.why_not
    later = flow.request_eligibility(school=school_a, email=EMAIL, now=timezone.now() + timedelta(days=91))
    assert later.allowed


def test_probation_that_ends_quietly_is_confirmed(
    blocked: Suppression, owner_a: User, school_a: School, support: User
) -> None:
    request = submit(owner_a, school_a)
    flow.approve_reinstatement_request(request=request, acting_user=support, note="ok")
    assert flow.close_probations() == 0
    assert flow.close_probations(now=timezone.now() + timedelta(days=31)) == 1
    request.refresh_from_db()
    assert request.outcome == "confirmed"


# --- two agents at once (PostgreSQL) --------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_agents_deciding_at_once_one_wins(school_a: School, owner_a: User, support: User, lead: User) -> None:
    ContactFactory(school=school_a, email=EMAIL)
    hard()
    request = submit(owner_a, school_a, what_changed="address_confirmed")
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def decide(i: int, user: User, approve: bool) -> None:
        try:
            barrier.wait()
            action = flow.approve_reinstatement_request if approve else flow.reject_reinstatement_request
            results[i] = action(request=request, acting_user=user, note=f"agent {i}")
        except Exception as error:
            results[i] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(0, lead, True)),
        threading.Thread(target=decide, args=(1, lead, True)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(type(r).__name__ for r in results) == ["AlreadyDecided", "ReinstatementRequest"]
    assert SuppressionChange.objects.filter(email=EMAIL, change="lifted").count() == 1
    assert AuditEvent.objects.filter(action="request.approved").count() == 1


def test_close_probations_command(blocked: Suppression, owner_a: User, school_a: School, support: User) -> None:
    from io import StringIO

    from django.core.management import call_command

    request = submit(owner_a, school_a)
    flow.approve_reinstatement_request(request=request, acting_user=support, note="ok")
    ReinstatementRequest.objects.filter(pk=request.pk).update(probation_ends_at=timezone.now() - timedelta(minutes=1))
    out = StringIO()
    call_command("close_probations", stdout=out)
    assert out.getvalue().strip() == "Confirmed 1 reinstatements whose probation ended."
    request.refresh_from_db()
    assert request.outcome == "confirmed"
