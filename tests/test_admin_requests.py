"""The support side of reinstatement: the queue (order, filters, the risk column as SQL, pinned
query counts) and the request page (timeline, earlier reinstatements, risk, DNS check, the
Approve / Reject decision through the services, and every refusal leaving nothing changed)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import dns.resolver
import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.utils import timezone

from deliverability import reinstatement as flow
from deliverability.admin.requests import risk_annotations
from deliverability.models import (
    AuditEvent,
    Contact,
    ReinstatementRequest,
    School,
    Suppression,
    SuppressionChange,
)
from deliverability.portal import domaincheck
from deliverability.services import RecordedBounce, record_bounce
from tests.conftest import client_for
from tests.factories import ContactFactory, OwnerFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/deliverability/reinstatementrequest/"
REASON = "The client confirmed she cleared her mailbox yesterday."
NOW = timezone.now()


def page_url(request: ReinstatementRequest) -> str:
    return f"{LIST}{request.pk}/change/"


def bounce(
    email: str,
    *,
    reason: str = "mailbox_not_found",
    event_type: str = "hard",
    school: School | None = None,
    days_ago: float = 1,
    message: str = "",
    remote_mta: str = "mx.example.net",
    sender_side: bool = False,
) -> RecordedBounce:
    return record_bounce(
        email=email,
        source="api:platform",
        source_event_id=f"{email}-{reason}-{days_ago}-{message}",
        occurred_at=NOW - timedelta(days=days_ago),
        event_type=event_type,
        reason=reason,
        sender_side=sender_side,
        school=school,
        smtp_code=550,
        status="5.1.1",
        diagnostic=f"550 5.1.1 <{email}>: user unknown (sent for school-b by bounces+school-b-7@platform.test)",
        remote_mta=remote_mta,
        message_id=f"<{message}@platform.test>" if message else f"<{email}-{days_ago}@platform.test>",
    )


def blocked(contact_school: School, email: str, **kwargs: Any) -> Contact:
    """A contact of `contact_school` whose address bounced (`school=` is the bounce's school)."""
    contact = Contact.objects.filter(school=contact_school, email=email).first() or ContactFactory(
        school=contact_school, email=email
    )
    bounce(email, **kwargs)
    return contact


def submit(owner: User, school: School, email: str, what_changed: str = "mailbox_cleared") -> ReinstatementRequest:
    return flow.submit_reinstatement_request(
        school=school, email=email, what_changed=what_changed, reason=REASON, requested_by=owner, language="pl"
    )


def queue(client: Client, **params: Any) -> list[str]:
    response = client.get(LIST, params)
    assert response.status_code == 200
    return re.findall(r'field-request_title"><a href="[^"]+">#\d+ <strong>([^<]+)</strong>', response.content.decode())


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """DNS is stubbed at the boundary: every domain is NXDOMAIN; the list records the queries."""
    asked: list[str] = []

    class Resolver:
        timeout = lifetime = 0.0

        def resolve(self, qname: Any, rdtype: Any) -> Any:
            asked.append(f"{rdtype} {qname}")
            raise dns.resolver.NXDOMAIN

    monkeypatch.setattr(domaincheck, "default_resolver", Resolver)
    return asked


@pytest.fixture
def request_a(owner_a: User, school_a: School) -> ReinstatementRequest:
    blocked(school_a, "anna@example.org")
    return submit(owner_a, school_a, "anna@example.org")


def state() -> tuple[Any, ...]:
    """What a refused decision must leave as it was."""
    return (
        list(ReinstatementRequest.objects.order_by("pk").values_list("status", "outcome", "decision_note")),
        Suppression.objects.active().count(),
        SuppressionChange.objects.count(),
        AuditEvent.objects.count(),
        LogEntry.objects.count(),
    )


# --- the queue -----------------------------------------------------------------------------


def test_pending_first_oldest_first_then_the_latest_decisions(owner_a: User, school_a: School, support: User) -> None:
    requests = {}
    for i, email in enumerate(["new@example.org", "old@example.org", "decided1@example.org", "decided2@example.org"]):
        blocked(school_a, email)
        requests[email] = submit(owner_a, school_a, email)
        ReinstatementRequest.objects.filter(pk=requests[email].pk).update(created_at=NOW - timedelta(days=i))
    flow.reject_reinstatement_request(request=requests["decided2@example.org"], acting_user=support, note="no")
    flow.reject_reinstatement_request(request=requests["decided1@example.org"], acting_user=support, note="no")
    assert queue(client_for(support)) == [
        "old@example.org",
        "new@example.org",
        "decided1@example.org",
        "decided2@example.org",
    ]


def test_filters(owner_a: User, owner_b: User, school_a: School, school_b: School, support: User) -> None:
    blocked(school_a, "anna@example.org")
    blocked(school_a, "jan@example.org", reason="complaint", event_type="complaint", school=school_a)
    blocked(school_b, "ewa@example.org")
    anna = submit(owner_a, school_a, "anna@example.org")
    submit(owner_a, school_a, "jan@example.org", what_changed="wants_mail")
    ewa = submit(owner_b, school_b, "ewa@example.org")
    flow.reject_reinstatement_request(request=ewa, acting_user=support, note="no")
    ReinstatementRequest.objects.filter(pk=anna.pk).update(created_at=NOW - timedelta(days=5))
    client = client_for(support)
    assert queue(client, status__exact="pending") == ["anna@example.org", "jan@example.org"]
    assert queue(client, status__exact="rejected") == ["ewa@example.org"]
    assert queue(client, school="school-b") == ["ewa@example.org"]
    assert queue(client, reason="complaint") == ["jan@example.org"]
    assert queue(client, reason="mailbox_not_found") == ["anna@example.org", "ewa@example.org"]
    assert queue(client, risk="high") == ["jan@example.org"]
    assert queue(client, risk="normal") == ["anna@example.org", "ewa@example.org"]
    assert queue(client, age="3-7") == ["anna@example.org"]
    assert queue(client, age="1") == ["jan@example.org", "ewa@example.org"]
    assert queue(client, age="7") == []
    assert queue(client, what_changed__exact="wants_mail") == ["jan@example.org"]
    assert queue(client, q=" Anna@Example.ORG ") == ["anna@example.org"]
    assert queue(client, q="not an address") == []


@pytest.mark.parametrize("n", [1, 20])
def test_the_queue_costs_the_same_queries_for_any_number_of_rows(
    owner_a: User, school_a: School, support: User, n: int, django_assert_num_queries: Any
) -> None:
    for i in range(n):
        blocked(school_a, f"user{i}@example.org")
        submit(owner_a, school_a, f"user{i}@example.org")
    client = client_for(support)
    # session, user, permissions (2), the count, the page with its risk and reason columns.
    with django_assert_num_queries(6):
        assert len(queue(client)) == n
    with django_assert_num_queries(6):
        queue(client, status__exact="pending", risk="normal", reason="mailbox_not_found", school="school-a", age="1")


# --- the risk column is assess_risk as SQL, rule by rule -------------------------------------


def risk_row(request: ReinstatementRequest) -> ReinstatementRequest:
    return ReinstatementRequest.objects.annotate(**risk_annotations(timezone.now())).get(pk=request.pk)


def new_request(school: School, email: str) -> ReinstatementRequest:
    return ReinstatementRequest.objects.create(
        school=school, email=email, requested_by=UserFactory(), what_changed="other", reason=REASON
    )


RULES: list[tuple[str, Any, bool]] = [
    ("normal", lambda s, e: bounce(e, reason="mailbox_full", event_type="soft"), False),
    ("one hard bounce", lambda s, e: bounce(e, reason="rejected"), False),
    (
        "two hard bounces",
        lambda s, e: (bounce(e, reason="rejected", message="a"), bounce(e, reason="rejected", message="b", days_ago=2)),
        True,
    ),
    (
        "hard bounces of one message",
        lambda s, e: (bounce(e, reason="rejected", message="a"), bounce(e, reason="rejected", message="a", days_ago=2)),
        False,
    ),
    (
        "hard bounces 100 days ago",
        lambda s, e: (
            bounce(e, reason="rejected", message="a", days_ago=100),
            bounce(e, reason="rejected", message="b", days_ago=101),
        ),
        False,
    ),
    (
        "sender-side hard bounces",
        lambda s, e: (
            bounce(e, reason="rejected", message="a", sender_side=True),
            bounce(e, reason="rejected", message="b", sender_side=True),
        ),
        False,
    ),
    ("complaint event", lambda s, e: bounce(e, reason="complaint", event_type="complaint", school=s), True),
    (
        "complaint for another school",
        lambda s, e: bounce(
            e,
            reason="complaint",
            event_type="complaint",
            school=School.objects.create(name="O", slug="o"),
            days_ago=120,
        ),
        False,
    ),
    ("mailbox_not_found at gmail", lambda s, e: bounce(e, days_ago=10), True),
    ("mailbox_not_found at gmail 40 days ago", lambda s, e: bounce(e, days_ago=40), False),
    ("mailbox_not_found hosted at Google", lambda s, e: bounce(e, days_ago=10, remote_mta="aspmx.l.google.com"), True),
    (
        "failed reinstatement",
        lambda s, e: ReinstatementRequest.objects.create(
            school=s,
            email=e,
            requested_by=UserFactory(),
            what_changed="other",
            reason=REASON,
            status="approved",
            outcome="failed",
        ),
        True,
    ),
]


@pytest.mark.parametrize(("name", "arrange", "high"), RULES, ids=[r[0] for r in RULES])
def test_the_risk_column_agrees_with_assess_risk(school_a: School, name: str, arrange: Any, high: bool) -> None:
    email = "someone@gmail.com" if "gmail" in name else "someone@school.example"
    arrange(school_a, email)
    request = new_request(school_a, email)
    assert flow.assess_risk(request).high is high
    assert risk_row(request).high_risk is high  # type: ignore[attr-defined]


def test_the_risk_column_names_the_rules(owner_a: User, school_a: School, support: User) -> None:
    blocked(school_a, "jan@gmail.com", days_ago=3, message="a")
    blocked(school_a, "jan@gmail.com", reason="rejected", days_ago=2, message="b")
    bounce("jan@gmail.com", reason="complaint", event_type="complaint", school=school_a)
    submit(owner_a, school_a, "jan@gmail.com", what_changed="wants_mail")
    html = client_for(support).get(LIST).content.decode()
    assert "complaint, major provider: no such mailbox, 2 hard bounces" in html


# --- the request page ----------------------------------------------------------------------


def test_the_request_page_shows_the_request_timeline_risk_and_history(
    owner_a: User, school_a: School, support: User, lead: User
) -> None:
    blocked(school_a, "anna@example.org", days_ago=200)
    earlier = submit(owner_a, school_a, "anna@example.org")
    flow.approve_reinstatement_request(request=earlier, acting_user=lead, note="First time, resuming.")
    bounce("anna@example.org", days_ago=1, message="again")  # fails the probation
    # Filed before the failure (a new request is refused for 90 days after it).
    current = ReinstatementRequest.objects.create(
        school=school_a, email="anna@example.org", requested_by=owner_a, what_changed="address_confirmed", reason=REASON
    )
    html = client_for(support).get(page_url(current)).content.decode()
    text = text_of(html)
    assert f"Reinstatement request #{current.pk}" in text
    assert "anna@example.org" in text and "Akademia A" in text and REASON in text
    assert "The recipient confirmed the address works" in text and "owner-a" in text
    # The risk, with its reasons in words.
    assert "High risk — approval needs a deliverability lead" in text
    assert "An earlier reinstatement of this address failed." in text
    # Earlier reinstatements and how they ended.
    previous = re.findall(r'class="dlv-previous-row" data-outcome="(\w*)"', html)
    assert previous == ["failed"] and "First time, resuming." in text
    # The address's timeline, the failed probation on it.
    kinds = re.findall(r'data-kind="(\w+)"', html)
    assert {"event", "suppressed", "lifted", "request", "decision"} <= set(kinds)
    assert "request.probation_failed" in text
    # A support agent can't approve it (high risk), only reject.
    assert re.search(r'id="dlv-approve" disabled', html) and 'id="dlv-reject"' in html


@pytest.mark.parametrize("events", [1, 30])
def test_the_request_page_costs_a_fixed_number_of_queries(
    owner_a: User, school_a: School, support: User, events: int, django_assert_num_queries: Any
) -> None:
    blocked(school_a, "anna@example.org")
    for i in range(events):
        bounce("anna@example.org", reason="mailbox_full", event_type="soft", days_ago=i / 10, message=f"s{i}")
    request = submit(owner_a, school_a, "anna@example.org")
    client = client_for(support)
    with django_assert_num_queries(22) as captured:
        response = client.get(page_url(request))
    assert response.status_code == 200, captured


def test_a_domain_not_found_request_shows_a_fresh_dns_check(
    owner_a: User, school_a: School, support: User, no_dns: list[str]
) -> None:
    blocked(school_a, "ola@gone.example", reason="domain_not_found")
    request = submit(owner_a, school_a, "ola@gone.example")
    html = client_for(support).get(page_url(request)).content.decode()
    assert "DNS check of gone.example, just now" in html
    assert "The domain does not exist (NXDOMAIN)." in html
    assert no_dns == ["MX gone.example."]


def test_other_reasons_ask_no_dns(request_a: ReinstatementRequest, support: User, no_dns: list[str]) -> None:
    assert "DNS check" not in client_for(support).get(page_url(request_a)).content.decode()
    assert no_dns == []


def test_an_unknown_request_is_404(support: User) -> None:
    assert client_for(support).get(f"{LIST}999999/change/").status_code == 404


def test_no_adding_or_editing_through_the_model_form(
    support: User, lead: User, request_a: ReinstatementRequest
) -> None:
    assert client_for(lead).get(f"{LIST}add/").status_code == 403
    assert client_for(lead).post(f"{LIST}{request_a.pk}/delete/").status_code == 403


def test_owners_never_reach_the_admin(owner_a: User, request_a: ReinstatementRequest) -> None:
    response = client_for(owner_a).post(page_url(request_a), {"decision": "approve", "note": "me"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert ReinstatementRequest.objects.get().status == "pending"


# --- deciding ------------------------------------------------------------------------------


def test_approve_with_a_note(
    request_a: ReinstatementRequest,
    support: User,
    owner_a: User,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner_a.email = "owner@school-a.example"
    owner_a.save(update_fields=["email"])
    client = client_for(support)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page_url(request_a), {"decision": "approve", "note": "Checked the history: fine."})
    assert (response.status_code, response["Location"]) == (302, LIST)
    request_a.refresh_from_db()
    assert (request_a.status, request_a.outcome, request_a.decided_by, request_a.decision_note) == (
        "approved",
        "probation",
        support,
        "Checked the history: fine.",
    )
    assert not Suppression.objects.active().filter(email="anna@example.org").exists()
    lifted = Suppression.objects.get(email="anna@example.org")
    assert lifted.lifted_by_request == request_a and lifted.lifted_at is not None  # history kept, linked
    assert LogEntry.objects.filter(object_id=str(request_a.pk), user=support).count() == 1
    assert AuditEvent.objects.filter(action="request.approved").count() == 1
    (mail,) = mailoutbox
    assert mail.to == ["owner@school-a.example"] and "Checked the history: fine." in mail.body
    followed = client.get(LIST).content.decode()
    assert f"Request #{request_a.pk} for anna@example.org: approved." in text_of(followed)


def test_reject_with_a_note_keeps_the_suppression(request_a: ReinstatementRequest, support: User) -> None:
    client_for(support).post(page_url(request_a), {"decision": "reject", "note": "It bounced again on Monday."})
    request_a.refresh_from_db()
    assert (request_a.status, request_a.outcome, request_a.decision_note) == (
        "rejected",
        "",
        "It bounced again on Monday.",
    )
    assert Suppression.objects.active().filter(email="anna@example.org").count() == 1


@pytest.mark.parametrize("decision", ["approve", "reject"])
@pytest.mark.parametrize("note", ["", "   "])
def test_a_decision_needs_a_note_shown_beside_it(
    request_a: ReinstatementRequest, support: User, decision: str, note: str
) -> None:
    before = state()
    response = client_for(support).post(page_url(request_a), {"decision": decision, "note": note})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<ul class="errorlist"[^>]*><li>This field is required.</li></ul>\s*<label for="id_note"', html)
    assert state() == before


def test_a_decision_must_be_approve_or_reject(request_a: ReinstatementRequest, lead: User) -> None:
    before = state()
    response = client_for(lead).post(page_url(request_a), {"decision": "lift-everything", "note": "x"})
    assert "Choose Approve or Reject." in response.content.decode()
    assert state() == before


def test_nobody_decides_a_request_they_filed(school_a: School) -> None:
    lead_owner = OwnerFactory(username="lead-owner", school=school_a, is_staff=True)
    lead_owner.groups.add(Group.objects.get(name="Deliverability leads"))
    blocked(school_a, "anna@example.org")
    request = submit(lead_owner, school_a, "anna@example.org")
    client = client_for(lead_owner)
    html = client.get(page_url(request)).content.decode()
    assert "You filed this request yourself" in html and 'id="dlv-decision-form"' not in html
    before = state()
    response = client.post(page_url(request), {"decision": "approve", "note": "Mine, but fine."})
    assert "Nobody decides a request they filed themselves." in response.content.decode()
    assert state() == before


def test_high_risk_approval_needs_a_lead(owner_a: User, school_a: School, support: User, lead: User) -> None:
    blocked(school_a, "jan@example.org", reason="complaint", event_type="complaint", school=school_a)
    request = submit(owner_a, school_a, "jan@example.org", what_changed="wants_mail")
    before = state()
    response = client_for(support).post(page_url(request), {"decision": "approve", "note": "She asked us."})
    html = response.content.decode()
    assert "only a deliverability lead can approve it" in html
    assert "High risk: only a deliverability lead can approve this request." in html
    assert state() == before
    client_for(lead).post(page_url(request), {"decision": "approve", "note": "She asked us."})
    request.refresh_from_db()
    assert request.status == "approved"


def test_staff_without_the_decide_permission_cant_decide(request_a: ReinstatementRequest) -> None:
    viewer = User.objects.create_user("viewer", "viewer@platform.test", "demo", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_reinstatementrequest"))
    client = client_for(viewer)
    html = client.get(page_url(request_a)).content.decode()
    assert "You can't decide requests" in text_of(html) and 'id="dlv-decision-form"' not in html
    before = state()
    response = client.post(page_url(request_a), {"decision": "reject", "note": "no"})
    assert "Only support can decide reinstatement requests." in response.content.decode()
    assert state() == before


@pytest.mark.parametrize("second", ["approve", "reject"])
@pytest.mark.parametrize("first", ["approve", "reject"])
def test_two_agents_at_once_one_wins_and_the_other_is_told(
    request_a: ReinstatementRequest, support: User, lead: User, first: str, second: str
) -> None:
    agent_1, agent_2 = client_for(lead), client_for(support)
    # Both have the page open; agent 1 decides first.
    assert 'id="dlv-decision-form"' in agent_2.get(page_url(request_a)).content.decode()
    agent_1.post(page_url(request_a), {"decision": first, "note": "Agent one's note."})
    before = state()
    response = agent_2.post(page_url(request_a), {"decision": second, "note": "Agent two's note."}, follow=True)
    status = "approved" if first == "approve" else "rejected"
    text = text_of(response.content.decode())
    assert f"Someone else was quicker: lead already {status} this request. Your decision was not saved." in text
    assert state() == before
    assert 'id="dlv-decision-form"' not in response.content.decode()  # the page now shows the decision


def test_a_withdrawn_request_cant_be_decided(request_a: ReinstatementRequest, owner_a: User, support: User) -> None:
    flow.withdraw_reinstatement_request(request=request_a, acting_user=owner_a)
    before = state()
    response = client_for(support).post(page_url(request_a), {"decision": "approve", "note": "ok"}, follow=True)
    assert "This request is already withdrawn. Your decision was not saved." in text_of(response.content.decode())
    assert state() == before


def test_a_hard_bounce_during_probation_resuppresses_and_shows(
    request_a: ReinstatementRequest, support: User, owner_a: User, school_a: School
) -> None:
    client = client_for(support)
    client.post(page_url(request_a), {"decision": "approve", "note": "ok"})
    assert not Suppression.objects.active().filter(email="anna@example.org").exists()
    bounce("anna@example.org", reason="rejected", days_ago=0, message="after")  # one strike is enough now
    request_a.refresh_from_db()
    assert request_a.outcome == "failed"
    assert Suppression.objects.active().filter(email="anna@example.org").count() == 1
    assert "Failed: bounced again during probation" in text_of(client.get(LIST).content.decode())
    html = client.get(page_url(request_a)).content.decode()
    assert 'id="dlv-request-outcome">Failed: bounced again during probation' in html
    # On the timeline: the new bounce, the new suppression and the failed probation.
    assert "request.probation_failed" in text_of(html)
    assert {"event", "suppressed", "lifted", "decision", "audit"} <= set(re.findall(r'data-kind="(\w+)"', html))
    eligibility = flow.request_eligibility(school=school_a, email="anna@example.org")
    assert not eligibility.allowed and "failed" in eligibility.why_not
