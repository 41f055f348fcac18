"""The address page and the contact page: one chronological timeline of everything that
happened to an address, the summary strip on top, a fixed number of queries however long the
history is."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from deliverability import services
from deliverability.erasure import erase_address, erased_token
from deliverability.models import AuditEvent, BounceEvent, Incident, ReinstatementRequest, School
from deliverability.selectors import address_summary, address_timeline
from deliverability.services import Actor, record_bounce
from tests.conftest import client_for
from tests.factories import BounceEventFactory, ContactFactory

pytestmark = pytest.mark.django_db


ADDRESS_URL = "/admin/deliverability/bounceevent/address/"
NOW = timezone.now()


def page(client: Client, email: str, **params: Any) -> str:
    response = client.get(ADDRESS_URL, {"email": email, **params})
    assert response.status_code == 200
    return response.content.decode()


def items(html: str) -> list[tuple[str, str]]:
    """(kind, style) of each timeline item, in page order."""
    return re.findall(r'class="dlv-item dlv-[\w-]+" data-kind="(\w+)" data-style="(\w+)"', html)


def bounce(email: str = "anna@example.com", **kwargs: Any) -> services.RecordedBounce:
    fields: dict[str, Any] = {
        "source": "dsn",
        "occurred_at": NOW - timedelta(hours=1),
        "event_type": "hard",
        "reason": "mailbox_not_found",
        "action": "failed",
        "sender_side": False,
        "smtp_code": 550,
        "status": "5.1.1",
        "diagnostic": "550 5.1.1 <anna@example.com>: Recipient address rejected: User unknown",
        "remote_mta": "mx1.example.com",
    }
    fields.update(kwargs)
    fields.setdefault("source_event_id", f"evt-{BounceEvent.objects.count()}")
    return record_bounce(email=email, **fields)


# --- what the page shows -------------------------------------------------------------------


def test_an_address_no_contact_has_is_found_by_typing_it(support: User) -> None:
    bounce("nobody@example.com")
    html = page(client_for(support), "  Nobody@Example.COM ")
    assert "nobody@example.com" in html
    assert "No school has this address as a contact." in html
    assert items(html) == [("suppressed", "suppressed"), ("event", "hard")]


def test_an_address_with_no_history_still_has_a_page(support: User) -> None:
    html = page(client_for(support), "quiet@example.com")
    assert "Nothing recorded for this address." in html
    assert "✔ sendable" in html


def test_a_bounce_shows_everything_the_agent_needs(support: User, school_a: School) -> None:
    bounce(
        source="webhook:amazon_ses",
        school=school_a,
        raw={"bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "anna@example.com"}]}},
    )
    html = page(client_for(support), "anna@example.com")
    assert "Hard bounce: Mailbox not found" in html
    assert "The address does not exist, or its account is disabled." in html  # plain words
    assert "Webhook: Amazon SES" in html
    assert "<code>550 5.1.1</code>" in html
    assert "mx1.example.com" in html
    assert 'class="dlv-diagnostic-details"' in html and "Recipient address rejected: User unknown" in html
    assert 'class="dlv-raw-details"' in html and "bounceType" in html
    assert "Akademia A" in html


@pytest.mark.parametrize(
    ("source", "label"),
    [("dsn", "Bounce message"), ("api:platform", "API (platform)"), ("webhook:postmark", "Webhook: Postmark")],
)
def test_the_source_is_named_in_plain_words(support: User, source: str, label: str) -> None:
    bounce(source=source)
    assert label in page(client_for(support), "anna@example.com")


def test_every_kind_of_entry_has_its_colour_and_icon(support: User, lead: User, school_a: School) -> None:
    email = "anna@example.com"
    base = NOW - timedelta(days=3)
    bounce(email, event_type="soft", reason="mailbox_full", occurred_at=base, smtp_code=452, status="4.2.2")
    bounce(email, event_type="soft", reason="server_unavailable", action="delayed", occurred_at=base, smtp_code=421)
    bounce(email, event_type="auto_reply", reason="auto_reply", occurred_at=base, smtp_code=None, status="")
    bounce(email, event_type="delivered", reason="delivered", action="delivered", occurred_at=base)
    bounce(email, event_type="complaint", reason="complaint", school=school_a, occurred_at=base)
    hard = bounce(email, occurred_at=base + timedelta(hours=1))  # platform-wide: suppressed
    assert hard.suppression is not None
    services.lift_suppression(suppression=hard.suppression, actor=Actor.of(lead), note="The school fixed the typo")
    html = page(client_for(support), email)
    styles = {style for _kind, style in items(html)}
    assert {"soft", "delayed", "auto_reply", "delivered", "complaint", "hard", "suppressed", "lifted"} <= styles
    assert "⊘" in html and "✖" in html and "✔" in html
    assert "The school fixed the typo" in html and "lead" in html  # lifted: by whom, why


def test_widening_shows_as_its_own_entry(support: User, school_a: School) -> None:
    email = "anna@example.com"
    bounce(email, event_type="complaint", reason="complaint", occurred_at=NOW - timedelta(hours=3))  # bulk only
    bounce(email, event_type="hard", reason="sender_blocked", occurred_at=NOW - timedelta(hours=2))  # widens to all
    html = page(client_for(support), email)
    assert ("audit", "widened") in items(html)
    assert "suppression.widened" in html


def test_requests_incidents_and_audit_events_are_on_the_timeline(support: User, lead: User, school_a: School) -> None:
    email = "anna@example.com"
    owner = User.objects.create_user("owner-x")
    request = ReinstatementRequest.objects.create(
        school=school_a,
        email=email,
        requested_by=owner,
        what_changed="mailbox_cleared",
        reason="The client confirmed she cleared her mailbox",
        status="rejected",
        decided_by=lead,
        decided_at=NOW - timedelta(minutes=5),
        decision_note="Still bouncing yesterday",
        created_at=NOW - timedelta(hours=2),
    )
    incident = Incident.objects.create(
        domain="example.com",
        reason="mailbox_not_found",
        window_start=NOW - timedelta(hours=2),
        opened_at=NOW - timedelta(hours=1),
    )
    BounceEventFactory.create(email=email, incident=incident, occurred_at=NOW - timedelta(minutes=30))
    AuditEvent.objects.create(
        actor_label="policy",
        action="request.probation_failed",
        target_type="X",
        target_id="1",
        email=email,
        note="hard bounce during probation",
    )
    for action in ("request.submitted", "request.rejected"):  # shown by the request's own entries
        AuditEvent.objects.create(
            actor_label="lead",
            action=action,
            target_type="ReinstatementRequest",
            target_id=str(request.pk),
            email=email,
        )
    html = page(client_for(support), email)
    kinds = [kind for kind, _style in items(html)]
    assert sorted(kinds) == ["audit", "decision", "event", "incident", "request"]
    assert "The client confirmed she cleared her mailbox" in html and "Still bouncing yesterday" in html
    assert f"/admin/deliverability/incident/{incident.pk}/change/" in html
    assert "request.probation_failed" in html and "request.submitted" not in html


def test_entries_are_grouped_by_day_newest_first(support: User) -> None:
    for days in (0, 2, 1):
        bounce(
            event_type="soft",
            reason="mailbox_full",
            occurred_at=NOW - timedelta(days=days, minutes=1),
            smtp_code=452,
            status="4.2.2",
        )
    html = page(client_for(support), "anna@example.com")
    headings = re.findall(r'<h3 class="dlv-day">([^<]+)</h3>', html)
    assert len(headings) == 3
    times = re.findall(r'<time datetime="([^"]+)"', html)
    assert times == sorted(times, reverse=True)


# --- the summary strip ---------------------------------------------------------------------


def test_summary_says_the_status_per_scope_and_category(support: User, school_a: School, school_b: School) -> None:
    email = "anna@example.com"
    ContactFactory.create(school=school_a, email=email)
    ContactFactory.create(school=school_b, email=email)
    bounce(email, event_type="complaint", reason="complaint", school=school_a)  # school A, bulk+automation
    summary = address_summary(email)
    by_label = {scope.label: {label: bool(s) for label, s in scope.cells} for scope in summary.scopes}
    assert by_label["Whole platform"] == {"Bulk mailing": False, "Automation sequence": False, "System message": False}
    assert by_label["Akademia A"] == {"Bulk mailing": True, "Automation sequence": True, "System message": False}
    assert by_label["Szkoła B"] == {"Bulk mailing": False, "Automation sequence": False, "System message": False}
    html = page(client_for(support), email)
    assert "Akademia A" in html and "Szkoła B" in html and "⊘ Spam complaint" in html


def test_summary_counts_reasons_over_7_30_90_days_and_first_and_last_bounce(support: User) -> None:
    email = "full@example.com"
    for days in (1, 10, 40, 100):
        bounce(
            email,
            event_type="soft",
            reason="mailbox_full",
            action="delayed",
            occurred_at=NOW - timedelta(days=days),
            smtp_code=452,
            status="4.2.2",
        )
    summary = address_summary(email)
    (row,) = summary.reason_counts
    assert (row.reason, row.last_7, row.last_30, row.last_90) == ("mailbox_full", 1, 2, 3)
    assert summary.first_bounce is not None and summary.last_bounce is not None
    assert (NOW - summary.first_bounce).days == 100 and (NOW - summary.last_bounce).days == 1


# --- scale: pages and queries --------------------------------------------------------------


def many_events(email: str, n: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    BounceEvent.objects.bulk_create(
        BounceEvent(
            email=email,
            domain="example.com",
            occurred_at=start + timedelta(minutes=i),
            type="soft",
            action="delayed",
            reason="mailbox_full",
            smtp_code=452,
            status="4.2.2",
            diagnostic="452 4.2.2 full",
            source="dsn",
            source_event_id=f"bulk-{i}",
            raw={"n": i},
        )
        for i in range(n)
    )


# Session, user, the user's and its groups' permissions (2), then the timeline: suppressions,
# contacts, reason counts, first/last bounce, probation, kind counts, page keys, events.
ADDRESS_PAGE_QUERIES = 12


@pytest.mark.parametrize("events", [1, 500])
def test_the_address_page_costs_the_same_queries_for_1_or_500_events(
    support: User, events: int, django_assert_num_queries: Any
) -> None:
    email = "busy@example.com"
    many_events(email, events)
    client = client_for(support)
    page(client, email)  # warm-up: caches that production keeps across requests
    with django_assert_num_queries(ADDRESS_PAGE_QUERIES):
        html = page(client, email)
    assert len(items(html)) == min(events, 100)


def test_thousands_of_events_are_paginated(support: User) -> None:
    email = "busy@example.com"
    many_events(email, 250)
    client = client_for(support)
    first, last = page(client, email), page(client, email, page=3)
    assert len(items(first)) == 100 and len(items(last)) == 50
    assert "page 1 of 3" in first and "Older" in first
    assert "page 3 of 3" in last and "Newer" in last
    assert len(items(page(client, email, page="999"))) == 50  # past the end: the last page
    assert len(items(page(client, email, page="x"))) == 100  # garbage: the first


def test_the_timeline_selector_merges_sources_in_time_order() -> None:
    email = "anna@example.com"
    many_events(email, 3)
    bounce(email, occurred_at=datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC))  # between events 1 and 2, suppresses
    timeline = address_timeline(email, page_size=10)
    assert timeline.total == 5
    assert [i.kind for i in timeline.items] == ["suppressed", "event", "event", "event", "event"]
    assert [i.at for i in timeline.items[1:]] == sorted((i.at for i in timeline.items[1:]), reverse=True)


# Session, user, the contact with its school, permissions (2), the timeline and summary as on the
# address page (8). (The admin's content type is cached by the first request: warmed up here.)
CONTACT_PAGE_QUERIES = 13


@pytest.mark.parametrize("events", [1, 500])
def test_the_contact_page_shows_the_timeline_in_constant_queries(
    support: User, school_a: School, events: int, django_assert_num_queries: Any
) -> None:
    contact = ContactFactory.create(school=school_a, email="busy@example.com", name="Anna Nowak")
    many_events(contact.email, events)
    client = client_for(support)
    client.get(f"/admin/deliverability/contact/{contact.pk}/change/")
    with django_assert_num_queries(CONTACT_PAGE_QUERIES):
        response = client.get(f"/admin/deliverability/contact/{contact.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Anna Nowak" in html and len(items(html)) == min(events, 100)


# --- input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "not an address", "a@" + "b" * 400 + ".com", "x\x00@example.com", "@@"])
def test_a_bad_address_gets_an_error_beside_the_field(support: User, value: str) -> None:
    response = client_for(support).get(ADDRESS_URL, {"email": value})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="errorlist' in html
    assert "dlv-timeline" not in html


def test_the_lookup_form_without_an_address_is_just_the_form(support: User) -> None:
    html = client_for(support).get(ADDRESS_URL).content.decode()
    assert 'name="email"' in html and "errorlist" not in html


def test_an_erased_address_still_finds_its_anonymized_history(support: User, lead: User) -> None:
    bounce("gone@example.com")
    erase_address(email="gone@example.com", actor=Actor.of(lead), note="GDPR request 42")
    html = page(client_for(support), "gone@example.com")
    assert "address.erased" in html and "GDPR request 42" in html
    assert "Recipient address rejected" not in html  # the diagnostic is gone
    assert BounceEvent.objects.filter(email=erased_token("gone@example.com")).count() == 1


# --- schools and contacts ------------------------------------------------------------------

CONTACTS = "/admin/deliverability/contact/"


def test_a_schools_contacts_are_listed_with_their_current_status(
    support: User, school_a: School, school_b: School
) -> None:
    ContactFactory.create(school=school_a, email="ok@example.com")
    ContactFactory.create(school=school_a, email="dead@example.com")
    ContactFactory.create(school=school_a, email="complained@example.com")
    ContactFactory.create(school=school_b, email="elsewhere@example.com")
    bounce("dead@example.com")  # platform-wide, all messages
    bounce("complained@example.com", event_type="complaint", reason="complaint", school=school_a)
    html = client_for(support).get(CONTACTS, {"school": "school-a"}).content.decode()
    rows = {
        email: row
        for row in html.split("<tr")[1:]
        for email in ["ok@example.com", "dead@example.com", "complained@example.com", "elsewhere@example.com"]
        if f">{email}</a>" in row
    }
    assert set(rows) == {"ok@example.com", "dead@example.com", "complained@example.com"}
    assert "Sendable" in rows["ok@example.com"]
    assert "Blocked: all mail" in rows["dead@example.com"] and "Mailbox not found" in rows["dead@example.com"]
    assert "System messages only" in rows["complained@example.com"]


def test_the_school_list_links_to_its_contacts_suppressions_and_bounces(support: User, school_a: School) -> None:
    html = client_for(support).get("/admin/deliverability/school/").content.decode()
    for list_name in ["contact", "suppression", "bounceevent"]:
        assert f"/admin/deliverability/{list_name}/?school=school-a" in html


# Session, user, permissions (2), the bounded count, the page, the page's statuses (one query).
CONTACT_LIST_QUERIES = 7


@pytest.mark.parametrize("n", [1, 40])
def test_the_contact_list_costs_the_same_queries_for_1_or_40_rows(
    support: User, school_a: School, n: int, django_assert_num_queries: Any
) -> None:
    for i in range(n):
        ContactFactory.create(school=school_a, email=f"c{i}@example{i}.com")
        if i % 2:
            bounce(f"c{i}@example{i}.com", source_event_id=f"c{i}")
    client = client_for(support)
    client.get(CONTACTS)
    with django_assert_num_queries(CONTACT_LIST_QUERIES):
        html = client.get(CONTACTS, {"school": "school-a"}).content.decode()
    assert html.count('class="field-address"') == n
    assert html.count("Blocked: all mail") == n // 2


# Session, user, permissions (2), count, the page of schools.
SCHOOL_LIST_QUERIES = 6


@pytest.mark.parametrize("n", [1, 30])
def test_the_school_list_costs_the_same_queries(support: User, n: int, django_assert_num_queries: Any) -> None:
    School.objects.bulk_create(School(name=f"S{i}", slug=f"s-{i}") for i in range(n))
    client = client_for(support)
    client.get("/admin/deliverability/school/")
    with django_assert_num_queries(SCHOOL_LIST_QUERIES):
        client.get("/admin/deliverability/school/")
