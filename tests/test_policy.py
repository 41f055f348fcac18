"""The suppression policy of DESIGN.md, row by row, through `record_bounce`: the events, the
suppressions, the change-log entries and the audit events each row produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from deliverability import services
from deliverability.addresses import InvalidEmail
from deliverability.models import (
    AuditEvent,
    BounceEvent,
    ReinstatementRequest,
    School,
    Suppression,
    SuppressionChange,
)
from deliverability.services import SYSTEM, Actor, record_bounce
from tests.factories import ContactFactory, SchoolFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GMAIL_UNKNOWN = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking "
    "the recipient's email address for typos or unnecessary spaces."
)


def bounce(email: str | None = "dead@example.com", **kwargs: Any) -> services.RecordedBounce:
    fields: dict[str, Any] = {
        "source": "api:platform",
        "occurred_at": NOW,
        "event_type": "hard",
        "reason": "mailbox_not_found",
        "sender_side": False,
        "action": "failed",
    }
    fields.update(kwargs)
    fields.setdefault("source_event_id", f"evt-{BounceEvent.objects.count() + 1}-{fields['occurred_at']:%s}")
    return record_bounce(email=email, **fields)


def soft(email: str, at: datetime, message: str, reason: str = "mailbox_full", **kw: Any) -> services.RecordedBounce:
    return bounce(email, event_type="soft", reason=reason, occurred_at=at, message_id=message, **kw)


def active(email: str) -> list[Suppression]:
    return list(Suppression.objects.active().filter(email=email).order_by("id"))


def changes(email: str) -> list[tuple[str, str, str]]:
    return [(c.change, c.categories, c.reason) for c in SuppressionChange.objects.filter(email=email).order_by("id")]


def audits(email: str) -> list[str]:
    return list(AuditEvent.objects.filter(email=email).order_by("id").values_list("action", flat=True))


# --- hard, recipient side ------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["mailbox_not_found", "domain_not_found"])
def test_dead_address_is_suppressed_on_the_whole_platform_for_all_categories(reason: str) -> None:
    result = bounce("Dead@Example.COM ", reason=reason, diagnostic=GMAIL_UNKNOWN)
    assert result.created and result.suppression is not None
    (suppression,) = active("dead@example.com")
    assert (suppression.school, suppression.categories, suppression.reason) == (None, "all", reason)
    assert suppression.cause == result.event and suppression.created_via == "policy"
    assert result.event.email == "dead@example.com" and result.event.domain == "example.com"
    assert changes("dead@example.com") == [("suppressed", "all", reason)]
    assert audits("dead@example.com") == ["suppression.created"]


def test_sender_blocked_suppresses_for_the_school_all_categories(school_a: School) -> None:
    bounce(reason="sender_blocked", school=school_a)
    (suppression,) = active("dead@example.com")
    assert (suppression.school, suppression.categories, suppression.reason) == (school_a, "all", "sender_blocked")


def test_sender_blocked_without_a_school_is_platform_wide_bulk_and_automation() -> None:
    bounce(reason="sender_blocked", school=None)
    (suppression,) = active("dead@example.com")
    assert (suppression.school, suppression.categories) == (None, "bulk_and_automation")


def test_rejected_needs_two_failed_messages_within_30_days() -> None:
    first = bounce(reason="rejected", message_id="<m1@platform>")
    assert first.suppression is None and active("dead@example.com") == []
    second = bounce(reason="rejected", message_id="<m2@platform>", occurred_at=NOW + timedelta(days=29))
    assert second.suppression is not None
    (suppression,) = active("dead@example.com")
    assert (suppression.school, suppression.categories, suppression.reason) == (None, "all", "rejected")


def test_rejected_strikes_outside_the_window_do_not_add_up() -> None:
    bounce(reason="rejected", message_id="<m1@platform>")
    bounce(reason="rejected", message_id="<m2@platform>", occurred_at=NOW + timedelta(days=31))
    assert active("dead@example.com") == []


def test_one_message_reported_by_api_bounce_message_and_webhook_counts_once() -> None:
    for source in ["api:platform", "dsn", "webhook:postmark"]:
        bounce(reason="rejected", message_id="<same@platform>", source=source)
    assert BounceEvent.objects.count() == 3
    assert active("dead@example.com") == []


def test_the_provider_message_id_counts_once_when_there_is_no_message_id() -> None:
    bounce(reason="rejected", provider_message_id="ses-1", source="webhook:amazon_ses")
    bounce(reason="rejected", provider_message_id="ses-1", source="api:platform")
    assert active("dead@example.com") == []
    bounce(reason="rejected", provider_message_id="ses-2", source="api:platform")
    assert len(active("dead@example.com")) == 1


# --- complaints ----------------------------------------------------------------------------


def test_complaint_suppresses_bulk_and_automation_for_the_school(school_a: School) -> None:
    result = bounce(event_type="complaint", reason="complaint", school=school_a)
    (suppression,) = active("dead@example.com")
    assert (suppression.school, suppression.categories, suppression.reason) == (
        school_a,
        "bulk_and_automation",
        "complaint",
    )
    assert suppression.blocks("bulk") and not suppression.blocks("system")
    assert result.suppression == suppression


def test_complaint_without_a_school_is_platform_wide_bulk_and_automation() -> None:
    bounce(event_type="complaint", reason="complaint")
    (suppression,) = active("dead@example.com")
    assert (suppression.school, suppression.categories) == (None, "bulk_and_automation")


# --- soft bounces --------------------------------------------------------------------------

DAYS = [0, 0, 1, 1, 2]  # 5 messages on 3 distinct days


def test_five_soft_failures_on_three_days_within_14_days_suppress_bulk_and_automation() -> None:
    results = [soft("full@example.com", NOW + timedelta(days=d, hours=i), f"<m{i}>") for i, d in enumerate(DAYS)]
    assert [r.suppression is not None for r in results] == [False, False, False, False, True]
    (suppression,) = active("full@example.com")
    assert (suppression.school, suppression.categories, suppression.reason) == (
        None,
        "bulk_and_automation",
        "soft_bounce_limit",
    )
    assert changes("full@example.com") == [("suppressed", "bulk_and_automation", "soft_bounce_limit")]


def test_five_soft_failures_on_two_days_do_not_suppress() -> None:
    for i, d in enumerate([0, 0, 0, 1, 1]):
        soft("full@example.com", NOW + timedelta(days=d, hours=i), f"<m{i}>")
    assert active("full@example.com") == []


def test_soft_failures_spread_over_more_than_14_days_do_not_suppress() -> None:
    for i, d in enumerate([0, 4, 8, 12, 16]):
        soft("full@example.com", NOW + timedelta(days=d), f"<m{i}>")
    assert active("full@example.com") == []


@pytest.mark.parametrize("reason", ["mailbox_full", "server_unavailable", "dns_problem"])
def test_each_counted_soft_reason_counts(reason: str) -> None:
    for i, d in enumerate(DAYS):
        soft("full@example.com", NOW + timedelta(days=d, hours=i), f"<m{i}>", reason=reason)
    assert len(active("full@example.com")) == 1


def test_soft_failures_of_one_message_count_once() -> None:
    for i, d in enumerate(DAYS):
        soft("full@example.com", NOW + timedelta(days=d, hours=i), "<same-message>")
    assert active("full@example.com") == []


def test_a_delivery_after_soft_bounces_resets_the_count() -> None:
    for i, d in enumerate(DAYS[:4]):
        soft("full@example.com", NOW + timedelta(days=d, hours=i), f"<m{i}>")
    bounce(
        "full@example.com",
        event_type="delivered",
        reason="delivered",
        action="delivered",
        occurred_at=NOW + timedelta(days=2),
    )
    soft("full@example.com", NOW + timedelta(days=2, hours=5), "<m5>")
    assert active("full@example.com") == []
    for i, d in enumerate([3, 3, 4, 4], start=6):
        soft("full@example.com", NOW + timedelta(days=d, hours=i), f"<m{i}>")
    assert len(active("full@example.com")) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "delayed"},  # the sender's MTA is still retrying
        {"reason": "message_too_large"},
        {"reason": "spam_filtered"},
        {"sender_side": True},
    ],
    ids=["delayed", "too-large", "spam-filtered", "sender-side"],
)
def test_soft_events_that_are_recorded_only(fields: dict[str, Any]) -> None:
    for i, d in enumerate(DAYS):
        soft("full@example.com", NOW + timedelta(days=d, hours=i), f"<m{i}>", **fields)
    assert BounceEvent.objects.filter(email="full@example.com").count() == 5
    assert active("full@example.com") == []


# --- recorded only -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"sender_side": True, "reason": "rejected"},  # our SPF/DKIM/reputation problem
        {"sender_side": True},
        {"action": "delayed", "event_type": "soft", "reason": "server_unavailable"},
        {"event_type": "auto_reply", "reason": "auto_reply"},
        {"event_type": "unknown", "reason": "unknown"},
        {"record_only": True},  # a drop by the provider's own suppression list
        {"event_type": "delivered", "reason": "delivered", "action": "delivered"},
    ],
    ids=["sender-side-rejected", "sender-side-dead", "delayed", "auto-reply", "unknown", "provider-drop", "delivered"],
)
def test_recorded_only(fields: dict[str, Any]) -> None:
    for i in range(3):
        result = bounce(message_id=f"<m{i}>", occurred_at=NOW + timedelta(days=i), **fields)
        assert result.created and result.suppression is None
    assert BounceEvent.objects.count() == 3
    assert Suppression.objects.count() == SuppressionChange.objects.count() == AuditEvent.objects.count() == 0


def test_an_event_without_an_address_is_recorded_and_suppresses_nothing() -> None:
    result = bounce(None, source="dsn", source_event_id="")
    assert result.created and result.event.email is None and result.suppression is None
    assert Suppression.objects.count() == 0
    again = bounce(None, source="dsn", source_event_id="")
    assert not again.created and again.event == result.event


# --- widening ------------------------------------------------------------------------------


def test_a_new_cause_widens_the_active_suppression_in_place() -> None:
    for i, d in enumerate(DAYS):
        soft("x@example.com", NOW + timedelta(days=d, hours=i), f"<m{i}>")
    (before,) = active("x@example.com")
    result = bounce("x@example.com", occurred_at=NOW + timedelta(days=3))
    (after,) = active("x@example.com")
    assert after.pk == before.pk and result.suppression == after
    assert (after.categories, after.reason, after.cause) == ("all", "mailbox_not_found", result.event)
    assert changes("x@example.com") == [
        ("suppressed", "bulk_and_automation", "soft_bounce_limit"),
        ("widened", "all", "mailbox_not_found"),
    ]
    assert audits("x@example.com") == ["suppression.created", "suppression.widened"]


def test_a_cause_already_covered_changes_nothing_visible() -> None:
    bounce("x@example.com", message_id="<1>")
    result = bounce("x@example.com", message_id="<2>", occurred_at=NOW + timedelta(hours=1))
    assert result.created and result.suppression is None
    assert changes("x@example.com") == [("suppressed", "all", "mailbox_not_found")]
    # A weaker reason never narrows the explanation.
    for i, d in enumerate(DAYS):
        soft("x@example.com", NOW + timedelta(days=d, hours=i), f"<s{i}>")
    (suppression,) = active("x@example.com")
    assert (suppression.categories, suppression.reason) == ("all", "mailbox_not_found")


def test_platform_and_school_suppressions_coexist(school_a: School) -> None:
    bounce("x@example.com", event_type="complaint", reason="complaint", school=school_a)
    bounce("x@example.com", message_id="<2>")
    assert {(s.school_id, s.reason) for s in active("x@example.com")} == {
        (school_a.pk, "complaint"),
        (None, "mailbox_not_found"),
    }


# --- idempotency ---------------------------------------------------------------------------


def _counts() -> tuple[int, int, int, int]:
    return (
        BounceEvent.objects.count(),
        Suppression.objects.count(),
        SuppressionChange.objects.count(),
        AuditEvent.objects.count(),
    )


def test_a_repeat_of_the_same_event_returns_the_first_and_changes_nothing() -> None:
    first = bounce("x@example.com", source_event_id="provider-42")
    counts = _counts()
    again = bounce("X@example.com", source_event_id="provider-42", diagnostic="different text")
    assert not again.created and again.event == first.event and again.suppression is None
    assert _counts() == counts


def test_events_without_an_id_are_keyed_on_their_content() -> None:
    first = bounce("x@example.com", source="dsn", source_event_id=None, diagnostic="550 user unknown")
    again = bounce("x@example.com", source="dsn", source_event_id=None, diagnostic="550 user unknown")
    assert first.created and not again.created and first.event.source_event_id.startswith("sha256:")
    other = bounce("x@example.com", source="dsn", source_event_id=None, diagnostic="550 no such user")
    assert other.created


def test_the_same_event_id_for_two_recipients_records_two_events() -> None:
    bounce("a@example.com", source_event_id="ses-1")
    bounce("b@example.com", source_event_id="ses-1")
    assert BounceEvent.objects.filter(source_event_id="ses-1").count() == 2


# --- contact, classification, hostile input -------------------------------------------------


def test_the_contact_of_the_school_is_linked(school_a: School) -> None:
    contact = ContactFactory(school=school_a, email="x@example.com")
    result = bounce("x@example.com", school=school_a)
    assert result.event.contact == contact


def test_raw_smtp_data_is_classified_when_the_caller_did_not() -> None:
    result = record_bounce(
        email="x@example.com",
        source="api:platform",
        source_event_id="1",
        occurred_at=NOW,
        smtp_code=550,
        status="5.1.1",
        diagnostic=GMAIL_UNKNOWN,
    )
    assert (result.event.type, result.event.reason, result.event.sender_side) == ("hard", "mailbox_not_found", False)
    assert len(active("x@example.com")) == 1


def test_nul_bytes_and_huge_text_are_stored_safely() -> None:
    result = bounce(
        "x@example.com",
        diagnostic="550 user\x00 unknown " + "x" * 100_000,
        raw={"k\x00": ["v\x00", 1, None, {"n": "\x00"}]},
        remote_mta="mx\x00.example.com" * 50,
    )
    event = BounceEvent.objects.get(pk=result.event.pk)
    assert "\x00" not in event.diagnostic and len(event.diagnostic) == 20_000
    assert event.raw == {"k": ["v", 1, None, {"n": ""}]}
    assert len(event.remote_mta) == 255


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": "not-an-address"}, InvalidEmail),
        ({"email": "a\x00@example.com"}, InvalidEmail),
        ({"occurred_at": datetime(2026, 1, 1)}, services.InvalidBounce),
        ({"action": "exploded"}, services.InvalidBounce),
        ({"smtp_code": 99999}, services.InvalidBounce),
        ({"category": "newsletter"}, services.InvalidBounce),
        ({"event_type": "soft", "reason": "mailbox_not_found"}, services.InvalidBounce),
        ({"event_type": "bogus", "reason": "bogus"}, services.InvalidBounce),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(fields: dict[str, Any], error: type[Exception]) -> None:
    email = fields.pop("email", "x@example.com")
    with pytest.raises(error):
        bounce(email, **fields)
    assert _counts() == (0, 0, 0, 0)


# --- probation -----------------------------------------------------------------------------


def _on_probation(school: School, email: str) -> ReinstatementRequest:
    return ReinstatementRequest.objects.create(
        school=school,
        email=email,
        requested_by=UserFactory(),
        what_changed="mailbox_cleared",
        reason="The client confirmed she cleared her mailbox",
        status="approved",
        outcome="probation",
        decided_at=NOW - timedelta(days=1),
        probation_ends_at=NOW + timedelta(days=29),
    )


def test_a_hard_bounce_during_probation_resuppresses_at_once_and_fails_the_reinstatement(school_a: School) -> None:
    request = _on_probation(school_a, "x@example.com")
    result = bounce("x@example.com", reason="rejected", school=school_a)  # normally a first strike only
    assert result.suppression is not None
    (suppression,) = active("x@example.com")
    assert (suppression.school, suppression.reason) == (None, "rejected")
    request.refresh_from_db()
    assert request.outcome == "failed"
    assert "request.probation_failed" in audits("x@example.com")


def test_a_hard_bounce_after_probation_is_ordinary(school_a: School) -> None:
    request = _on_probation(school_a, "x@example.com")
    bounce("x@example.com", reason="rejected", occurred_at=NOW + timedelta(days=30))
    assert active("x@example.com") == []
    request.refresh_from_db()
    assert request.outcome == "probation"


# --- suppress and lift ---------------------------------------------------------------------


def test_lift_keeps_history_and_logs_the_change(lead: Any) -> None:
    bounce("x@example.com")
    (suppression,) = active("x@example.com")
    lifted = services.lift_suppression(suppression=suppression, actor=Actor.of(lead), note="Confirmed by phone")
    assert lifted.lifted_at is not None and lifted.lifted_by == lead and lifted.lift_note == "Confirmed by phone"
    assert Suppression.objects.filter(email="x@example.com").count() == 1
    assert changes("x@example.com")[-1] == ("lifted", "all", "mailbox_not_found")
    assert audits("x@example.com")[-1] == "suppression.lifted"
    with pytest.raises(services.AlreadyDecided):
        services.lift_suppression(suppression=suppression, actor=Actor.of(lead), note="again")
    assert len(changes("x@example.com")) == 2


def test_lift_needs_a_note_and_the_permission(support: Any, lead: Any) -> None:
    bounce("x@example.com")
    (suppression,) = active("x@example.com")
    with pytest.raises(services.ServiceError):
        services.lift_suppression(suppression=suppression, actor=Actor.of(lead), note="  ")
    with pytest.raises(PermissionDenied):
        services.lift_suppression(suppression=suppression, actor=Actor.of(support), note="please")
    assert len(active("x@example.com")) == 1 and len(changes("x@example.com")) == 1


def test_a_lift_decided_on_stale_state_is_refused(lead: Any) -> None:
    bounce("x@example.com", message_id="<1>")
    (seen,) = active("x@example.com")
    bounce("x@example.com", message_id="<2>", occurred_at=NOW + timedelta(hours=1))  # fresh evidence
    with pytest.raises(services.AlreadyDecided, match="changed"):
        services.lift_suppression(
            suppression=seen, actor=Actor.of(lead), note="ok", expected_updated_at=seen.updated_at
        )
    assert len(active("x@example.com")) == 1


def test_manual_suppression_needs_a_lead_and_a_note(support: Any, lead: Any) -> None:
    with pytest.raises(PermissionDenied):
        services.suppress(
            email="x@example.com",
            school=None,
            categories="all",
            reason="manual",
            actor=Actor.of(support),
            note="spam trap",
            via="manual",
        )
    with pytest.raises(services.ServiceError):
        services.suppress(
            email="x@example.com",
            school=None,
            categories="all",
            reason="manual",
            actor=Actor.of(lead),
            note="",
            via="manual",
        )
    suppression, change = services.suppress(
        email=" X@Example.com",
        school=None,
        categories="all",
        reason="manual",
        actor=Actor.of(lead),
        note="Known spam trap",
        via="manual",
    )
    assert change == "suppressed" and suppression.email == "x@example.com" and suppression.created_by == lead
    assert audits("x@example.com") == ["suppression.created"]
    assert AuditEvent.objects.get().actor == lead


# --- the incident guard --------------------------------------------------------------------


@pytest.fixture
def small_incident_threshold(settings: Any) -> int:
    settings.DELIVERABILITY = {**settings.DELIVERABILITY, "INCIDENT_THRESHOLD": 3}
    return 3


def _burst(count: int, start: int = 0, reason: str = "mailbox_not_found") -> list[services.RecordedBounce]:
    return [
        bounce(f"user{i}@bigmail.example", reason=reason, occurred_at=NOW + timedelta(minutes=i))
        for i in range(start, start + count)
    ]


def test_a_burst_at_one_domain_opens_an_incident_and_holds_further_failures(small_incident_threshold: int) -> None:
    results = _burst(5)
    assert [r.held for r in results] == [False, False, False, True, True]
    assert Suppression.objects.active().count() == 3
    incident = services.Incident.objects.get()
    assert (incident.domain, incident.reason, incident.status, incident.distinct_addresses) == (
        "bigmail.example",
        "mailbox_not_found",
        "open",
        4,
    )
    assert set(incident.held_events.values_list("email", flat=True)) == {
        "user3@bigmail.example",
        "user4@bigmail.example",
    }
    assert AuditEvent.objects.filter(action="incident.opened").count() == 1


def test_other_domains_and_reasons_are_not_held(small_incident_threshold: int) -> None:
    _burst(5)
    other = bounce("someone@elsewhere.example", occurred_at=NOW + timedelta(minutes=6))
    other_reason = bounce("user9@bigmail.example", reason="domain_not_found", occurred_at=NOW + timedelta(minutes=6))
    assert not other.held and other.suppression is not None
    assert not other_reason.held and other_reason.suppression is not None


def test_failures_spread_beyond_the_window_open_no_incident(small_incident_threshold: int) -> None:
    for i in range(6):
        bounce(f"user{i}@bigmail.example", occurred_at=NOW + timedelta(minutes=61 * i))
    assert not services.Incident.objects.exists()
    assert Suppression.objects.active().count() == 6


def test_confirm_applies_the_held_events(small_incident_threshold: int, lead: Any) -> None:
    _burst(5)
    incident = services.Incident.objects.get()
    applied = services.confirm_incident(incident=incident, actor=Actor.of(lead), note="Real: list was bought")
    assert {s.email for s in applied} == {"user3@bigmail.example", "user4@bigmail.example"}
    assert Suppression.objects.active().count() == 5
    incident.refresh_from_db()
    assert (incident.status, incident.decided_by) == ("confirmed", lead)
    with pytest.raises(services.AlreadyDecided):
        services.dismiss_incident(incident=incident, actor=Actor.of(lead), note="changed my mind")
    # A confirmed pattern is not held again within the window.
    assert bounce("user7@bigmail.example", occurred_at=NOW + timedelta(minutes=8)).suppression is not None


def test_dismiss_leaves_held_events_recorded_only_and_rollback_lifts_the_pattern(
    small_incident_threshold: int, lead: Any
) -> None:
    _burst(5)
    bounce("someone@elsewhere.example")  # not the pattern: must survive the roll-back
    incident = services.Incident.objects.get()
    services.dismiss_incident(incident=incident, actor=Actor.of(lead), note="Provider outage")
    assert Suppression.objects.active().count() == 4
    preview = list(services.incident_rollback_preview(incident))
    assert [s.email for s in preview] == [f"user{i}@bigmail.example" for i in range(3)]
    lifted = services.rollback_incident(incident=incident, actor=Actor.of(lead), note="Outage, not dead")
    assert [s.pk for s in lifted] == [s.pk for s in preview]
    assert list(Suppression.objects.active().values_list("email", flat=True)) == ["someone@elsewhere.example"]
    assert SuppressionChange.objects.filter(change="lifted").count() == 3
    assert AuditEvent.objects.filter(action="incident.rolled_back").count() == 1


def test_incident_decisions_need_a_lead_and_a_note(small_incident_threshold: int, support: Any, lead: Any) -> None:
    _burst(5)
    incident = services.Incident.objects.get()
    with pytest.raises(PermissionDenied):
        services.confirm_incident(incident=incident, actor=Actor.of(support), note="x")
    with pytest.raises(PermissionDenied):
        services.dismiss_incident(incident=incident, actor=SYSTEM, note="x")
    with pytest.raises(services.ServiceError):
        services.dismiss_incident(incident=incident, actor=Actor.of(lead), note=" ")
    with pytest.raises(services.ServiceError):  # roll-back only after a dismissal
        services.rollback_incident(incident=incident, actor=Actor.of(lead), note="x")
    incident.refresh_from_db()
    assert incident.status == "open" and Suppression.objects.active().count() == 3


def test_school_is_optional_everywhere() -> None:
    other = SchoolFactory()
    assert bounce("x@example.com", school=other).event.school == other


def test_message_ids_with_and_without_angle_brackets_are_one_message() -> None:
    bounce(reason="rejected", message_id="<same@platform>", source="api:platform")
    bounce(reason="rejected", message_id=" same@platform ", source="dsn")
    assert set(BounceEvent.objects.values_list("message_id", flat=True)) == {"same@platform"}
    assert active("dead@example.com") == []


def test_lone_surrogates_are_stored_safely() -> None:
    result = bounce("x@example.com", diagnostic="550 bad \ud800 text", raw={"k\udfff": ["\ud800"], "n": float("nan")})
    event = BounceEvent.objects.get(pk=result.event.pk)
    assert event.diagnostic == "550 bad ? text"
    assert event.raw == {"k?": ["?"], "n": None}
