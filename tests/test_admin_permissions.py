"""Who may do what in the admin, from the foundation's groups: agents view everything and
triage; leads also suppress, lift, import, export, decide and roll back incidents, and erase.
Nobody edits raw payloads or notes, and nobody deletes audit or bounce events."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from deliverability.models import AuditEvent, BounceEvent, Incident, School, Suppression, SuppressionChange
from tests.conftest import client_for
from tests.factories import BounceEventFactory, ContactFactory, SuppressionFactory

pytestmark = pytest.mark.django_db


A = "/admin/deliverability"


@pytest.fixture
def rows(school_a: School) -> dict[str, int]:
    suppression = SuppressionFactory.create(note="lead's note")
    event = BounceEventFactory.create(raw={"raw": "payload"})
    incident = Incident.objects.create(domain="x.test", reason="mailbox_not_found", window_start=event.occurred_at)
    audit = AuditEvent.objects.create(
        actor_label="policy",
        action="suppression.created",
        target_type="Suppression",
        target_id=str(suppression.pk),
        email=suppression.email,
        note="why",
    )
    change = SuppressionChange.objects.create(
        change="suppressed", suppression=suppression, email=suppression.email, categories="all", reason="manual"
    )
    contact = ContactFactory.create(school=school_a)
    return {
        "suppression": suppression.pk,
        "event": event.pk,
        "incident": incident.pk,
        "audit": audit.pk,
        "change": change.pk,
        "contact": contact.pk,
        "school": school_a.pk,
    }


def viewing_urls(rows: dict[str, int]) -> list[str]:
    return [
        "/admin/",
        f"{A}/",
        f"{A}/suppression/",
        f"{A}/suppression/{rows['suppression']}/change/",
        f"{A}/bounceevent/",
        f"{A}/bounceevent/{rows['event']}/change/",
        f"{A}/bounceevent/address/?email=a@example.com",
        f"{A}/bounceevent/sender-side/",
        f"{A}/incident/",
        f"{A}/incident/{rows['incident']}/change/",
        f"{A}/auditevent/",
        f"{A}/auditevent/{rows['audit']}/change/",
        f"{A}/suppressionchange/",
        f"{A}/school/",
        f"{A}/school/{rows['school']}/change/",
        f"{A}/contact/",
        f"{A}/contact/{rows['contact']}/change/",
    ]


def lead_urls(rows: dict[str, int]) -> list[str]:
    return [
        f"{A}/suppression/add/",
        f"{A}/suppression/{rows['suppression']}/lift/",
        f"{A}/suppression/import/",
        f"{A}/suppression/export/",
        f"{A}/bounceevent/address/erase/?email=a@example.com",
        f"{A}/incident/{rows['incident']}/decide/",
        f"{A}/incident/{rows['incident']}/rollback/",
    ]


def test_agents_view_everything(support: User, rows: dict[str, int]) -> None:
    client = client_for(support)
    for url in viewing_urls(rows):
        assert client.get(url).status_code == 200, url


def test_agents_get_403_on_every_lead_action_get_or_post(support: User, rows: dict[str, int]) -> None:
    client = client_for(support)
    for url in lead_urls(rows):
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"note": "x", "email": "a@example.com"}).status_code == 403, url
    assert Suppression.objects.get(pk=rows["suppression"]).lifted_at is None


def test_leads_reach_every_page(lead: User, rows: dict[str, int]) -> None:
    client = client_for(lead)
    for url in viewing_urls(rows) + lead_urls(rows):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("user", ["anonymous", "owner_a"])
def test_people_outside_the_staff_are_sent_to_log_in(
    request: pytest.FixtureRequest, user: str, rows: dict[str, int]
) -> None:
    who = request.getfixturevalue(user)
    client = who if isinstance(who, Client) else client_for(who)
    for url in viewing_urls(rows) + lead_urls(rows):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


@pytest.mark.parametrize("model", ["bounceevent", "auditevent", "suppressionchange", "suppression", "incident"])
def test_nobody_deletes_or_edits_history_not_even_a_superuser(lead: User, rows: dict[str, int], model: str) -> None:
    pk = {
        "bounceevent": "event",
        "auditevent": "audit",
        "suppressionchange": "change",
        "suppression": "suppression",
        "incident": "incident",
    }[model]
    root = User.objects.create_superuser("root", "root@platform.test", "demo")
    for user in (lead, root):
        client = client_for(user)
        assert client.get(f"{A}/{model}/{rows[pk]}/delete/").status_code == 403
        assert client.post(f"{A}/{model}/{rows[pk]}/delete/", {"post": "yes"}).status_code == 403
        html = client.get(f"{A}/{model}/").content.decode()
        assert "delete_selected" not in html
        change = client.get(f"{A}/{model}/{rows[pk]}/change/").content.decode()
        for field in ("raw", "note", "diagnostic", "lift_note", "decision_note"):
            assert f'name="{field}"' not in change
    assert BounceEvent.objects.filter(pk=rows["event"]).exists()
    assert AuditEvent.objects.filter(pk=rows["audit"]).exists()


def test_a_lead_sees_the_lead_tools_and_an_agent_does_not(support: User, lead: User, rows: dict[str, int]) -> None:
    tools = ["Import CSV", "Export CSV", "Suppress an address"]
    agent_page = client_for(support).get(f"{A}/suppression/").content.decode()
    lead_page = client_for(lead).get(f"{A}/suppression/").content.decode()
    assert not any(tool in agent_page for tool in tools)
    assert all(tool in lead_page for tool in tools)
