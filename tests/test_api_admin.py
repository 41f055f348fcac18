"""API keys in the admin: a lead issues (the key is shown once) and revokes; an agent looks."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

import deliverability.admin.api_keys  # noqa: F401 - registers ApiKeyAdmin (listed in deliverability.admin)
from deliverability.api.authentication import hash_key
from deliverability.api.services import issue_api_key
from deliverability.models import ApiKey, AuditEvent, School
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

ADD = "/admin/deliverability/apikey/add/"
LIST = "/admin/deliverability/apikey/"


def test_a_lead_issues_a_key_and_sees_it_once(lead: User, school_a: School) -> None:
    client = client_for(lead)
    response = client.post(ADD, {"name": "school A mailer", "school": school_a.pk}, follow=True)
    assert response.status_code == 200
    key = ApiKey.objects.get()
    (message,) = [m.message for m in response.context["messages"] if "<code>" in m.message]
    secret = message.split("<code>")[1].split("</code>")[0]
    assert key.key_hash == hash_key(secret) and key.school == school_a
    assert AuditEvent.objects.get(action="api_key.issued").actor == lead
    # The change page never shows it again.
    page = client.get(f"{LIST}{key.pk}/change/").content.decode()
    assert secret not in page and f"dbo_{key.prefix}_" in page
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/check/", {"email": "a@example.com", "category": "bulk"}).status_code == 200


def test_a_lead_revokes_keys_with_an_audited_action(lead: User) -> None:
    issued = issue_api_key(name="old", school=None, actor_label="test")
    response = client_for(lead).post(LIST, {"action": "revoke", "_selected_action": [issued.api_key.pk]})
    assert response.status_code == 302
    assert ApiKey.objects.get().is_active is False
    assert AuditEvent.objects.get(action="api_key.revoked").actor == lead
    api = Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert api.get("/api/v1/check/", {"email": "a@example.com", "category": "bulk"}).status_code == 401


def test_an_agent_sees_keys_but_cannot_issue_or_revoke(support: User) -> None:
    issued = issue_api_key(name="mailer", school=None, actor_label="test")
    client = client_for(support)
    assert client.get(LIST).status_code == 200
    assert client.get(ADD).status_code == 403
    client.post(LIST, {"action": "revoke", "_selected_action": [issued.api_key.pk]})
    assert ApiKey.objects.get().is_active is True


def test_keys_are_never_deleted(lead: User) -> None:
    issued = issue_api_key(name="mailer", school=None, actor_label="test")
    assert client_for(lead).get(f"{LIST}{issued.api_key.pk}/delete/").status_code == 403
