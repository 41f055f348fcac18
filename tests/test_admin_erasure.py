"""Erasing an address (leads): the confirmation page says exactly what will happen; contacts,
events, requests and audit events are anonymized; the suppression keeps the address."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from deliverability.erasure import erase_address, erased_token, erasure_plan
from deliverability.models import AuditEvent, BounceEvent, Contact, ReinstatementRequest, School, Suppression
from deliverability.services import Actor, ServiceError, record_bounce
from tests.conftest import client_for
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


ERASE = "/admin/deliverability/bounceevent/address/erase/"
EMAIL = "anna.nowak@example.com"


def history(school_a: School, school_b: School) -> None:
    ContactFactory.create(school=school_a, email=EMAIL, name="Anna Nowak")
    ContactFactory.create(school=school_b, email=EMAIL, name="A. Nowak")
    record_bounce(
        email=EMAIL,
        source="webhook:amazon_ses",
        source_event_id="ses-1",
        occurred_at=timezone.now(),
        event_type="hard",
        reason="mailbox_not_found",
        action="failed",
        sender_side=False,
        school=school_a,
        diagnostic=f"550 5.1.1 <{EMAIL}>: Recipient address rejected",
        raw={"mail": {"destination": [EMAIL]}},
    )
    owner = User.objects.create_user("owner-x")
    ReinstatementRequest.objects.create(
        school=school_b,
        email=EMAIL,
        requested_by=owner,
        what_changed="address_confirmed",
        reason="Anna Nowak called us and confirmed her address works",
        created_at=timezone.now(),
    )
    AuditEvent.objects.create(
        actor_label="portal",
        action="request.submitted",
        target_type="ReinstatementRequest",
        target_id="1",
        email=EMAIL,
        note=f"Request for {EMAIL}",
        after={"email": EMAIL},
    )


def everything() -> tuple[Any, ...]:
    return (
        list(Contact.objects.order_by("id").values_list("email", "name")),
        list(BounceEvent.objects.order_by("id").values_list("email", "diagnostic", "raw")),
        list(ReinstatementRequest.objects.order_by("id").values_list("email", "reason", "status")),
        list(AuditEvent.objects.order_by("id").values_list("email", "note", "action")),
        list(Suppression.objects.order_by("id").values_list("email", "lifted_at")),
    )


def test_the_confirmation_page_says_exactly_what_will_happen(lead: User, school_a: School, school_b: School) -> None:
    history(school_a, school_b)
    before = everything()
    html = client_for(lead).get(ERASE, {"email": " Anna.Nowak@Example.com"}).content.decode()
    html = " ".join(unescape(re.sub(r"<[^>]+>", "", html)).split())  # the text a person reads
    assert "Erasing anna.nowak@example.com will" in html
    assert "anonymize 2 contacts" in html and "Akademia A, Szkoła B" in html
    assert "anonymize 1 bounce event" in html
    assert "anonymize 1 reinstatement request (texts cleared; 1 pending withdrawn)" in html
    assert "replace the address in 2 audit events" in html  # suppression.created + request.submitted
    assert "keep its suppressions (1 active, 0 lifted)" in html
    assert erased_token(EMAIL) in html
    assert everything() == before


def test_a_lead_erases_an_address(lead: User, school_a: School, school_b: School) -> None:
    history(school_a, school_b)
    request = ReinstatementRequest.objects.get()
    LogEntry.objects.create(
        user=lead,
        content_type=ContentType.objects.get_for_model(request),
        object_id=str(request.pk),
        object_repr=str(request),
        action_flag=CHANGE,
        change_message="pending → rejected",
    )
    token = erased_token(EMAIL)
    response = client_for(lead).post(ERASE, {"email": EMAIL, "note": "GDPR request #42", "confirm": "on"})
    assert response.status_code == 302

    assert list(Contact.objects.values_list("email", "name")) == [(token, ""), (token, "")]
    (event,) = BounceEvent.objects.all()
    assert (event.email, event.diagnostic, event.raw, event.domain) == (token, "", None, "example.com")
    (request,) = ReinstatementRequest.objects.all()
    assert (request.email, request.reason, request.status) == (token, "", "withdrawn")
    for audit in AuditEvent.objects.exclude(action="address.erased"):
        assert audit.email == token and EMAIL not in audit.note and EMAIL not in str(audit.after)
    erased = AuditEvent.objects.get(action="address.erased")
    assert (erased.actor, erased.email, erased.note, erased.target_id) == (lead, token, "GDPR request #42", token)
    assert erased.after is not None and erased.after["contacts"] == 2 and erased.after["suppressions_kept"] == 1
    # The address survives only in its suppression: the platform still never mails it.
    assert list(Suppression.objects.active().values_list("email", flat=True)) == [EMAIL]
    assert not AuditEvent.objects.filter(email=EMAIL).exists()
    assert EMAIL not in LogEntry.objects.get().object_repr
    assert EMAIL not in str(everything()[:4])


def test_erasing_again_after_the_address_came_back(lead: User, school_a: School) -> None:
    ContactFactory.create(school=school_a, email=EMAIL, name="Anna")
    record_bounce(
        email=EMAIL,
        source="dsn",
        source_event_id="e1",
        occurred_at=timezone.now() - timedelta(days=1),
        event_type="soft",
        reason="mailbox_full",
        action="failed",
        sender_side=False,
    )
    erase_address(email=EMAIL, actor=Actor.of(lead), note="first request")
    # The school adds her again and the same bounce is reported again, then she asks again.
    ContactFactory.create(school=school_a, email=EMAIL, name="Anna again")
    record_bounce(
        email=EMAIL,
        source="dsn",
        source_event_id="e1",
        occurred_at=timezone.now() - timedelta(days=1),
        event_type="soft",
        reason="mailbox_full",
        action="failed",
        sender_side=False,
    )
    result = erase_address(email=EMAIL, actor=Actor.of(lead), note="second request")
    token = erased_token(EMAIL)
    assert list(Contact.objects.values_list("email", "name")) == [(token, "")]
    assert BounceEvent.objects.filter(email=token).count() == 2 and not BounceEvent.objects.filter(email=EMAIL)
    assert result.counts["contacts"] == 1


def test_the_service_checks_the_permission_and_the_note(support: User, lead: User, school_a: School) -> None:
    ContactFactory.create(school=school_a, email=EMAIL, name="Anna")
    before = everything()
    with pytest.raises(PermissionDenied):
        erase_address(email=EMAIL, actor=Actor.of(support), note="x")
    with pytest.raises(ServiceError, match="needs a note"):
        erase_address(email=EMAIL, actor=Actor.of(lead), note="  ")
    with pytest.raises(ServiceError, match="Not a valid address"):
        erase_address(email="nope", actor=Actor.of(lead), note="x")
    assert everything() == before


def test_the_plan_of_an_unknown_address_is_empty() -> None:
    plan = erasure_plan("nobody@example.com")
    assert not plan.has_anything and plan.active_suppressions == 0


OK = {"email": EMAIL, "note": "GDPR request #42", "confirm": "on"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"email": ""}, "email", "This field is required."),
        ({"email": "anna"}, "email", "Not a valid address"),
        ({"email": "a" * 400 + "@example.com"}, "email", "at most 320 characters"),
        ({"email": "anna\x00@example.com"}, "email", "Null characters are not allowed."),
        ({"note": ""}, "note", "This field is required."),
        ({"note": "\x00"}, "note", "Null characters are not allowed."),
        ({"note": "n" * 2001}, "note", "at most 2000 characters"),
        ({"confirm": ""}, "confirm", "This field is required."),
    ],
)
def test_the_form_refuses_bad_input_beside_the_field(
    lead: User, school_a: School, school_b: School, changes: dict[str, str], field: str, message: str
) -> None:
    history(school_a, school_b)
    before = everything()
    response = client_for(lead).post(ERASE, {**OK, **changes})
    assert response.status_code == 200
    html = response.content.decode()
    assert message in unescape(html.split(f"field-{field}", 1)[1].split("</ul>", 1)[0])
    assert everything() == before


def test_agents_cannot_erase(support: User, school_a: School, school_b: School) -> None:
    history(school_a, school_b)
    before = everything()
    client = client_for(support)
    assert client.get(ERASE, {"email": EMAIL}).status_code == 403
    assert client.post(ERASE, OK).status_code == 403
    assert everything() == before
    assert (
        "Erase this address"
        not in client.get("/admin/deliverability/bounceevent/address/", {"email": EMAIL}).content.decode()
    )
