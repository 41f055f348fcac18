"""Incidents in the admin: open ones with pattern, count and sample diagnostics; a lead
confirms, or dismisses and rolls back (preview, then one audited action)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from deliverability.models import AuditEvent, BounceEvent, Incident, Suppression
from deliverability.services import record_bounce
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


LIST = "/admin/deliverability/incident/"


@pytest.fixture(autouse=True)
def small_threshold(settings: Any) -> None:
    settings.DELIVERABILITY = {**settings.DELIVERABILITY, "INCIDENT_THRESHOLD": 3}


def outage(n: int = 5, domain: str = "bigmail.test") -> Incident:
    """n addresses of one domain fail "user unknown" within minutes: the first 3 suppress,
    the 4th opens an incident, the rest are held."""
    start = timezone.now() - timedelta(minutes=30)
    for i in range(n):
        record_bounce(
            email=f"user{i}@{domain}",
            source="webhook:amazon_ses",
            source_event_id=f"{domain}-{i}",
            occurred_at=start + timedelta(minutes=i),
            event_type="hard",
            reason="mailbox_not_found",
            action="failed",
            sender_side=False,
            smtp_code=550,
            status="5.1.1",
            diagnostic=f"550 5.1.1 user{i}@{domain}: mailbox unavailable (outage #{i})",
        )
    return Incident.objects.get(domain=domain)


def state() -> tuple[Any, ...]:
    return (
        list(Incident.objects.values_list("status", "decision_note")),
        list(Suppression.objects.order_by("id").values_list("email", "lifted_at")),
        AuditEvent.objects.count(),
    )


def test_the_list_shows_the_pattern_count_and_a_sample_diagnostic(support: User) -> None:
    outage()
    html = client_for(support).get(LIST).content.decode()
    assert "Mailbox not found" in html and "bigmail.test" in html and "Open" in html
    assert '<td class="field-held_count">2</td>' in html
    assert "(outage #4)" in html  # the latest held event's diagnostic


# Session, user, permissions (2), count, the page (held count and sample as subqueries).
LIST_QUERIES = 6


@pytest.mark.parametrize("n", [1, 4])
def test_the_list_costs_the_same_queries(support: User, n: int, django_assert_num_queries: Any) -> None:
    for i in range(n):
        outage(domain=f"mail{i}.test")
    client = client_for(support)
    client.get(LIST)
    with django_assert_num_queries(LIST_QUERIES):
        html = client.get(LIST).content.decode()
    assert html.count('class="field-pattern"') == n


def test_the_incident_page_shows_samples_and_the_leads_buttons(support: User, lead: User) -> None:
    incident = outage()
    url = f"{LIST}{incident.pk}/change/"
    agent = client_for(support).get(url).content.decode()
    assert "(outage #3)" in agent and "(outage #4)" in agent
    assert "Confirm or dismiss" not in agent
    assert "Confirm or dismiss" in client_for(lead).get(url).content.decode()


def test_a_lead_confirms_and_the_held_events_suppress(lead: User) -> None:
    incident = outage()
    assert Suppression.objects.count() == 3
    response = client_for(lead).post(f"{LIST}{incident.pk}/decide/", {"decision": "confirm", "note": "Real churn"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.status, incident.decided_by, incident.decision_note) == ("confirmed", lead, "Real churn")
    assert Suppression.objects.active().count() == 5
    assert AuditEvent.objects.filter(action="incident.confirmed", actor=lead).count() == 1


def test_a_lead_dismisses_then_rolls_back_after_a_preview(lead: User) -> None:
    incident = outage()
    client = client_for(lead)
    response = client.post(f"{LIST}{incident.pk}/decide/", {"decision": "dismiss", "note": "SES outage"})
    assert response.status_code == 302 and response["Location"].endswith(f"/{incident.pk}/rollback/")
    assert Suppression.objects.active().count() == 3  # held events stay recorded only

    preview = client.get(response["Location"]).content.decode()
    assert "Rolling back lifts 3 suppressions" in preview
    assert all(f"user{i}@bigmail.test" in preview for i in range(3))
    assert Suppression.objects.active().count() == 3  # the preview changes nothing

    response = client.post(response["Location"], {"note": "Provider confirmed the outage"})
    assert response.status_code == 302
    assert Suppression.objects.active().count() == 0
    assert AuditEvent.objects.filter(action="incident.rolled_back", actor=lead).count() == 1
    assert AuditEvent.objects.filter(action="suppression.lifted", actor=lead).count() == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"decision": "confirm", "note": ""}, "This field is required."),
        ({"decision": "confirm", "note": "   "}, "This field is required."),
        ({"decision": "confirm", "note": "x\x00"}, "Null characters are not allowed."),
        ({"decision": "confirm", "note": "x" * 2001}, "at most 2000 characters"),
        ({"decision": "delete-everything", "note": "x"}, "Select a valid choice."),
        ({"note": "x"}, "This field is required."),
    ],
)
def test_a_decision_refuses_bad_input(lead: User, data: dict[str, str], message: str) -> None:
    incident = outage()
    before = state()
    response = client_for(lead).post(f"{LIST}{incident.pk}/decide/", data)
    assert response.status_code == 200 and message in response.content.decode()
    assert state() == before


def test_deciding_twice_and_rolling_back_an_open_incident_are_refused(lead: User) -> None:
    incident = outage()
    client = client_for(lead)
    before = state()
    response = client.post(f"{LIST}{incident.pk}/rollback/", {"note": "too early"})
    assert "Only a dismissed incident can be rolled back." in response.content.decode()
    assert state() == before
    client.post(f"{LIST}{incident.pk}/decide/", {"decision": "confirm", "note": "real"})
    before = state()
    response = client.post(f"{LIST}{incident.pk}/decide/", {"decision": "dismiss", "note": "changed my mind"})
    assert "already confirmed" in response.content.decode()
    assert state() == before
    assert client.post(f"{LIST}999999/decide/", {"decision": "confirm", "note": "x"}).status_code == 404


def test_agents_see_incidents_but_cannot_decide_or_roll_back(support: User) -> None:
    incident = outage()
    client = client_for(support)
    before = state()
    assert client.post(f"{LIST}{incident.pk}/decide/", {"decision": "dismiss", "note": "x"}).status_code == 403
    assert client.post(f"{LIST}{incident.pk}/rollback/", {"note": "x"}).status_code == 403
    assert client.get(f"{LIST}{incident.pk}/delete/").status_code == 403
    assert state() == before
    assert BounceEvent.objects.filter(incident=incident).count() == 2
