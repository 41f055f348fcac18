"""Provider webhooks: the real bodies of ../shared/corpus/webhooks/ (and documented-format bodies
for Brevo, Mailjet, SparkPost and Postal) posted to /webhooks/anymail/<esp>/tracking/ with the
auth and signatures each provider sends; the stored events, reasons and suppressions; retries;
refused calls; hostile bodies."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from functools import cache
from hashlib import sha256
from hmac import new as hmac_new
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from anymail.signals import tracking
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.db import OperationalError
from django.test import Client

from deliverability import webhooks
from deliverability.models import BounceEvent, School, Suppression, SuppressionChange
from tests.conftest import client_for
from tests.factories import ContactFactory

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = [
    pytest.mark.django_db,
    # anymail warns on every SendGrid call that it no longer supports SendGrid officially.
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]

BASE_DIR = Path(__file__).resolve().parents[1]
SECRET = "provider:test-webhook-secret"
BASIC_AUTH = "Basic " + b64encode(SECRET.encode()).decode()
WRONG_AUTH = "Basic " + b64encode(b"provider:guessed").decode()
MAILGUN_KEY = "test-mailgun-signing-key"
ESPS = ["amazon_ses", "postmark", "mailgun", "sendgrid", "brevo", "mailjet", "sparkpost", "postal"]


@cache
def postal_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_key_body(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """A public key as Postal's DKIM record and SendGrid's settings show it: base64, no armour."""
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "".join(pem.decode().splitlines()[1:-1])


@pytest.fixture(autouse=True)
def webhook_settings(settings: Any) -> None:
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": [SECRET],
        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
        "POSTAL_WEBHOOK_KEY": public_key_body(postal_key()),
        "AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS": False,
    }


def mailgun_signed(data: bytes, key: str = MAILGUN_KEY) -> bytes:
    """Re-sign a Mailgun body as Mailgun does, with a fresh token on every call (a retry too)."""
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return data
    if not isinstance(body, dict):
        return data
    timestamp, token = "1700000000", secrets.token_hex(25)
    signature = hmac_new(key.encode(), f"{timestamp}{token}".encode(), sha256).hexdigest()
    body["signature"] = {"timestamp": timestamp, "token": token, "signature": signature}
    return json.dumps(body).encode()


def postal_signature(data: bytes, key: rsa.RSAPrivateKey | None = None) -> str:
    # Postal signs with RSA PKCS#1 v1.5 over SHA-1 (anymail verifies exactly that).
    signed = (key or postal_key()).sign(data, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    return b64encode(signed).decode()


def post(
    esp: str,
    body: Any,
    *,
    auth: str | None = BASIC_AUTH,
    headers: dict[str, str] | None = None,
    sign: bool = True,
    client: Client | None = None,
) -> Response:
    """POST `body` to the real URL with what the provider sends along: basic auth, SNS's headers,
    Mailgun's HMAC, Postal's RSA signature. The client raises on a 500 (never expected)."""
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    data = text if isinstance(text, bytes) else text.encode()
    extra = {"Authorization": auth} if auth else {}
    content_type = "application/json"
    if esp == "amazon_ses":
        content_type = "text/plain; charset=utf-8"  # what SNS sends
        try:
            envelope = json.loads(data)
        except (ValueError, RecursionError):
            envelope = None
        envelope = envelope if isinstance(envelope, dict) else {}
        extra["x-amz-sns-message-type"] = str(envelope.get("Type", "Notification"))
        extra["x-amz-sns-message-id"] = str(envelope.get("MessageId", "unknown"))
    if esp == "mailgun" and sign:
        data = mailgun_signed(data)
    if esp == "postal" and sign:
        extra["X-Postal-Signature"] = postal_signature(data)
    extra.update(headers or {})
    return (client or Client()).post(
        f"/webhooks/anymail/{esp}/tracking/", data, content_type=content_type, headers=extra
    )


def sample(corpus_dir: Path, name: str) -> str:
    return (corpus_dir / "webhooks" / name).read_text()


def stored() -> list[tuple[Any, ...]]:
    """(email, type, action, reason, record_only, source) of every stored event."""
    return [
        (e.email, e.type, e.action, e.reason, e.record_only, e.source)
        for e in BounceEvent.objects.order_by("email", "occurred_at", "id")
    ]


def suppressions() -> list[tuple[Any, ...]]:
    """(email, school slug or None, categories, reason) of every active suppression."""
    return [
        (s.email, s.school.slug if s.school else None, s.categories, s.reason)
        for s in Suppression.objects.active().select_related("school").order_by("email", "id")
    ]


def nothing_stored() -> bool:
    return not BounceEvent.objects.exists() and not Suppression.objects.exists()


# --- the corpus: every sample lands as the right event (classification.md's verdict table) ----

HARD_DEAD = ("all", "mailbox_not_found")
COMPLAINT = ("bulk_and_automation", "complaint")

# file → [(email, type, action, reason, record_only, suppression (categories, reason) or None)]
CORPUS: dict[str, list[tuple[str, str, str, str, bool, tuple[str, str] | None]]] = {
    # SES Permanent/General with "550 5.1.1 ... User unknown" → hard mailbox_not_found
    "amazon_ses__bounce_event.json": [("jane@example.com", "hard", "failed", "mailbox_not_found", False, HARD_DEAD)],
    # Permanent/General, no diagnostic → hard rejected (two strikes: one is not enough); two
    # recipients → two events
    "amazon_ses__multiple_bounce_event.json": [
        ("jane@example.com", "hard", "failed", "rejected", False, None),
        ("richard@example.com", "hard", "failed", "rejected", False, None),
    ],
    # complaintFeedbackType abuse → complaint (no school: platform-wide, bulk and automation)
    "amazon_ses__complaint_event.json": [("richard@example.com", "complaint", "failed", "complaint", False, COMPLAINT)],
    "amazon_ses__delivery_event.json": [("jane@example.com", "delivered", "delivered", "delivered", False, None)],
    "sendgrid__delivered_event.json": [("recipient@example.com", "delivered", "delivered", "delivered", False, None)],
    # dropped "invalid@invalid": a malformed address is logged and acknowledged, never stored
    "sendgrid__dropped_invalid_event.json": [],
    # dropped "Bounced Address": SendGrid's own list repeats an earlier bounce → recorded only
    "sendgrid__dropped_bounced.json": [("example@example.com", "hard", "failed", "rejected", True, None)],
    # bounce, type bounce, Gmail's "does not exist" → hard mailbox_not_found
    "sendgrid__bounce_event.json": [("noreply@example.com", "hard", "failed", "mailbox_not_found", False, HARD_DEAD)],
    # deferred → soft with action delayed (never counted)
    "sendgrid__deferred_event.json": [("recipient@example.com", "soft", "delayed", "server_unavailable", False, None)],
    # HardBounce, Details "550 5.1.1 ... does not exist" → hard mailbox_not_found
    "postmark__bounce_event.json": [("bounce@example.com", "hard", "failed", "mailbox_not_found", False, HARD_DEAD)],
    "postmark__delivered_event.json": [("recipient@example.com", "delivered", "delivered", "delivered", False, None)],
    "postmark__spam_event.json": [("spam@example.com", "complaint", "failed", "complaint", False, COMPLAINT)],
    # SubscriptionChange with SuppressionReason HardBounce repeats a bounce → recorded only
    "postmark__subscription_change_bounce.json": [
        ("john@example.com", "hard", "failed", "mailbox_not_found", True, None)
    ],
    # Type Unsubscribe: not a bounce → acknowledged, nothing recorded
    "postmark__bounce_unsubscribe_variant.json": [],
    # failed, severity permanent, Gmail's "does not exist" → hard mailbox_not_found
    "mailgun__failed_permanent_event.json": [
        ("invalid@example.com", "hard", "failed", "mailbox_not_found", False, HARD_DEAD)
    ],
    # failed, severity temporary (anymail: deferred; Mailgun retries) → soft, delayed
    "mailgun__failed_temporary_event.json": [
        ("undeliverable@nomx.example.com", "soft", "delayed", "dns_problem", False, None)
    ],
    "mailgun__failed_greylisted_event.json": [
        ("undeliverable@mx.example.com", "soft", "delayed", "server_unavailable", False, None)
    ],
    # rejected (Mailgun refused to send: sandbox domain) → recorded only
    "mailgun__rejected_event.json": [("recipient@example.org", "unknown", "failed", "unknown", True, None)],
    "mailgun__complained_event.json": [("recipient@example.com", "complaint", "failed", "complaint", False, COMPLAINT)],
}


@pytest.mark.corpus
def test_every_corpus_sample_has_an_expected_outcome(corpus_dir: Path) -> None:
    files = {p.name for p in (corpus_dir / "webhooks").glob("*.json") if not p.name.startswith("_")}
    assert files == set(CORPUS)


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_sample_lands_as_the_right_event_and_a_retry_is_a_no_op(corpus_dir: Path, name: str) -> None:
    esp = name.split("__")[0]
    body = sample(corpus_dir, name)

    response = post(esp, body)

    assert response.status_code == 200
    expected = CORPUS[name]
    assert stored() == [(email, t, a, r, only, f"webhook:{esp}") for email, t, a, r, only, _ in expected]
    assert suppressions() == [(email, None, *s) for email, *_, s in expected if s is not None]
    changes = SuppressionChange.objects.count()

    retry = post(esp, body)  # Mailgun's retry carries a new signature token

    assert retry.status_code == 200
    assert len(stored()) == len(expected)
    assert SuppressionChange.objects.count() == changes


@pytest.mark.corpus
def test_ses_event_keeps_the_notification_ids_and_only_its_own_recipient(corpus_dir: Path) -> None:
    post("amazon_ses", sample(corpus_dir, "amazon_ses__bounce_event.json"))

    event = BounceEvent.objects.get()
    assert event.occurred_at == datetime(2018, 3, 26, 17, 58, 59, 675000, tzinfo=UTC)
    assert event.source_event_id == "19ba9823-d7f2-53c1-860e-cb10e0d13dfc"  # SNS MessageId
    assert event.message_id == "custom-message-ID"
    assert event.provider_message_id == "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000"
    assert (event.smtp_code, event.status, event.remote_mta) == (550, "5.1.1", "127.0.2.0")
    assert event.diagnostic == "smtp; 550 5.1.1 <jane@example.com>... User unknown"
    assert event.raw is not None and event.raw["bounce"]["bounceSubType"] == "General"
    # The other recipients of the message (mary, richard) are not kept in jane's event.
    assert "mary@" not in json.dumps(event.raw) and "richard@" not in json.dumps(event.raw)


@pytest.mark.corpus
def test_ses_notification_with_two_recipients_records_two_events_each_with_its_own_payload(corpus_dir: Path) -> None:
    post("amazon_ses", sample(corpus_dir, "amazon_ses__multiple_bounce_event.json"))

    jane, richard = BounceEvent.objects.order_by("email")
    assert jane.source_event_id == richard.source_event_id == "19ba9823-d7f2-53c1-860e-cb10e0d13dfc"
    assert "richard@" not in json.dumps(jane.raw) and "jane@" not in json.dumps(richard.raw)


@pytest.mark.corpus
def test_mailgun_event_is_keyed_by_its_own_id_not_the_signature(corpus_dir: Path) -> None:
    post("mailgun", sample(corpus_dir, "mailgun__complained_event.json"))

    event = BounceEvent.objects.get()
    assert event.source_event_id == "ncV2XwymRUKbPek_MIM-Gw"
    assert event.message_id == "20130718032413.263EE2E0926@example.org"
    assert event.raw is not None and "signature" not in event.raw


@pytest.mark.corpus
def test_sendgrid_event_keeps_both_message_ids(corpus_dir: Path) -> None:
    post("sendgrid", sample(corpus_dir, "sendgrid__bounce_event.json"))

    event = BounceEvent.objects.get()
    assert event.message_id == "wrfRRvF7Q0GgwUo2CvDmEA@ismtpd0006p1sjc2.sendgrid.net"  # smtp-id
    assert event.provider_message_id == "de212213-bb66-4302-8f3f-20acdb7a104e"
    assert event.source_event_id == "lC0Rc-FuQmKbnxCWxX1jRQ"
    assert event.occurred_at == datetime(2016, 4, 19, 19, 47, 30, tzinfo=UTC)


@pytest.mark.corpus
def test_event_without_provider_id_is_keyed_by_its_content_not_by_when_it_arrived(corpus_dir: Path) -> None:
    body = sample(corpus_dir, "postmark__delivered_event.json")  # Postmark deliveries carry no ID
    post("postmark", body)
    first = BounceEvent.objects.get()
    assert first.source_event_id.startswith("sha256:")

    post("postmark", body)

    assert BounceEvent.objects.get() == first


# --- refused calls store nothing -------------------------------------------------------------


BOUNCED = "bounced@example.com"


def valid_body(esp: str) -> Any:
    """A body each provider could send: a hard bounce of bounced@example.com."""
    return {
        "amazon_ses": ses_notification(ses_bounce("bounced@example.com", "Permanent", "NoEmail"), sns_id="n-1"),
        "postmark": {
            "RecordType": "Bounce",
            "ID": 42,
            "Type": "HardBounce",
            "Email": "bounced@example.com",
            "Details": "smtp;550 5.1.1 user unknown",
            "BouncedAt": "2026-11-20T12:00:00Z",
        },
        "mailgun": {
            "event-data": {
                "event": "failed",
                "id": "mg-1",
                "severity": "permanent",
                "reason": "bounce",
                "recipient": "bounced@example.com",
                "timestamp": 1790000000.5,
                "delivery-status": {"code": 550, "message": "5.1.1 user unknown"},
            }
        },
        "sendgrid": [
            {
                "email": "bounced@example.com",
                "event": "bounce",
                "type": "bounce",
                "status": "5.1.1",
                "reason": "550 5.1.1 user unknown",
                "sg_event_id": "sg-1",
                "timestamp": 1790000000,
            }
        ],
        "brevo": brevo("hard_bounce", email=BOUNCED, reason="550 5.1.1 user unknown"),
        "mailjet": mailjet("bounce", email=BOUNCED, hard_bounce=True, smtp_reply="550 5.1.1 user unknown"),
        "sparkpost": [sparkpost("bounce", raw_rcpt_to=BOUNCED, bounce_class="10", raw_reason="550 5.1.1 user unknown")],
        "postal": postal("MessageDeliveryFailed", to=BOUNCED, status="HardFail", output="550 5.1.1 user unknown"),
    }[esp]


@pytest.mark.parametrize("esp", ESPS)
def test_a_valid_call_is_stored(esp: str) -> None:
    assert post(esp, valid_body(esp)).status_code == 200
    assert stored() == [("bounced@example.com", "hard", "failed", "mailbox_not_found", False, f"webhook:{esp}")]


@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize("auth", [None, WRONG_AUTH], ids=["no-auth", "wrong-secret"])
def test_a_call_without_the_secret_is_refused_and_stores_nothing(esp: str, auth: str | None) -> None:
    response = post(esp, valid_body(esp), auth=auth)

    # SES answers 401 to an unauthenticated call first (SNS sends credentials only when asked).
    assert response.status_code in ({401} if esp == "amazon_ses" and auth is None else {400})
    assert nothing_stored()


def test_mailgun_call_with_a_wrong_or_missing_signature_is_refused() -> None:
    body = json.dumps(valid_body("mailgun")).encode()
    assert post("mailgun", mailgun_signed(body, key="someone-elses-key"), sign=False).status_code == 400
    assert post("mailgun", body, sign=False).status_code == 400
    assert nothing_stored()


def test_postal_call_with_a_wrong_or_missing_signature_is_refused() -> None:
    data = json.dumps(valid_body("postal")).encode()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for signature in [postal_signature(data, other_key), postal_signature(data + b" "), "garbage!", ""]:
        assert post("postal", data, sign=False, headers={"X-Postal-Signature": signature}).status_code == 400
    assert post("postal", data, sign=False).status_code == 400
    assert nothing_stored()


def test_postal_without_a_configured_key_refuses_every_call(settings: Any) -> None:
    settings.ANYMAIL = {k: v for k, v in settings.ANYMAIL.items() if k != "POSTAL_WEBHOOK_KEY"}
    assert post("postal", valid_body("postal")).status_code == 400
    assert nothing_stored()


def test_sendgrid_signed_event_webhook_is_verified_when_a_key_is_set(settings: Any) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    settings.ANYMAIL = {**settings.ANYMAIL, "SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY": public_key_body(key)}
    data = json.dumps(valid_body("sendgrid")).encode()
    timestamp = "1790000000"
    signature = b64encode(key.sign(timestamp.encode() + data, ec.ECDSA(hashes.SHA256()))).decode()
    signed = {"X-Twilio-Email-Event-Webhook-Timestamp": timestamp}

    forged = post(
        "sendgrid", data, headers={**signed, "X-Twilio-Email-Event-Webhook-Signature": b64encode(b"x").decode()}
    )
    assert forged.status_code == 400 and nothing_stored()
    assert post("sendgrid", data, headers=signed).status_code == 400  # no signature at all

    assert (
        post("sendgrid", data, headers={**signed, "X-Twilio-Email-Event-Webhook-Signature": signature}).status_code
        == 200
    )
    assert BounceEvent.objects.count() == 1


# --- hostile bodies: anymail's own 400, or 2xx with nothing stored; never a 500 ---------------

HOSTILE_BODIES: dict[str, bytes] = {
    "malformed-json": b'{"RecordType": "Bounce", ',
    "not-utf8": b"\xff\xfe\x00{\x00}",
    "nul-bytes": b"\x00\x00\x00",
    "empty": b"",
    "null": b"null",
    "number": b"12345678901234567890",
    "string": b'"bounced@example.com"',
    "empty-object": b"{}",
    "empty-list": b"[]",
    "list-of-junk": b'[1, "x", null, [], {"msys": []}]',
    "wrong-types": json.dumps(
        {
            "Type": "Notification",
            "MessageId": "x",
            "Message": json.dumps({"notificationType": "Bounce", "bounce": {"bouncedRecipients": "all"}}),
            "RecordType": ["Bounce"],
            "event-data": {"event": ["failed"], "timestamp": "soon"},
            "event": {"x": 1},
            "msys": "x",
            "payload": [],
        }
    ).encode(),
    "absurd-timestamps": json.dumps(
        [{"event": "bounce", "email": "a@example.com", "timestamp": 1e300, "ts_epoch": -1e300, "time": 10**30}]
    ).encode(),
    "deep-nesting": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_a_hostile_body_is_refused_or_acknowledged_never_a_500(esp: str, name: str) -> None:
    response = post(esp, HOSTILE_BODIES[name])  # authenticated and signed: it reaches the parsers

    assert response.status_code in {200, 400}
    assert nothing_stored()


@pytest.mark.parametrize("esp", ESPS)
def test_a_body_over_the_upload_limit_is_refused(esp: str, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    body = json.dumps({"event": "bounce", "padding": "x" * 200_000}).encode()

    assert post(esp, body).status_code == 400
    assert nothing_stored()


JUNK: list[Any] = [None, 7, "x", [], {"a": [1]}]


def fuzz_bodies(esp: str) -> list[Any]:
    """Realistic bodies with every field of them, in turn, replaced by each value of JUNK."""
    if esp == "amazon_ses":
        bounce = ses_bounce("a@example.com", "Permanent", "General", diagnostic="smtp; 550 5.1.1 user unknown")
        bounce["bounce"] |= {"remoteMtaIp": "192.0.2.1", "bouncedRecipients": [{"emailAddress": "a@example.com"}]}
        bounce["mail"] |= {
            "headers": [{"name": "Message-ID", "value": "<m@x>"}, {"name": "X-Metadata", "value": "{}"}],
            "commonHeaders": {"messageId": "<m@x>", "to": ["a@example.com"]},
        }
        delay = {
            "eventType": "DeliveryDelay",
            "mail": {"messageId": "m", "destination": ["a@example.com"]},
            "deliveryDelay": {"delayType": "MailboxFull", "delayedRecipients": [{"emailAddress": "a@example.com"}]},
        }
        originals = [bounce, delay]
    else:
        originals = [valid_body(esp)]
    bodies = []
    for original in originals:
        for path in leaf_and_node_paths(original):
            for junk in JUNK:
                body = replaced(original, path, junk)
                bodies.append(ses_notification(body, sns_id="fuzz") if esp == "amazon_ses" else body)
    return bodies


def leaf_and_node_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in children:
        found += leaf_and_node_paths(child, (*prefix, key))
    return found


def replaced(value: Any, path: tuple[Any, ...], junk: Any) -> Any:
    copy = json.loads(json.dumps(value))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = junk
    return copy


@pytest.mark.parametrize("esp", ESPS)
def test_any_field_of_a_real_body_may_hold_anything_without_a_500(esp: str) -> None:
    for body in fuzz_bodies(esp):
        assert post(esp, body).status_code in {200, 400}, body


def test_nul_bytes_and_lone_surrogates_in_a_valid_event_are_cleaned_before_storing() -> None:
    body = valid_body("postmark") | {
        "Details": "smtp;550 5.1.1 user\x00 unknown \ud800",
        "Metadata": {"note": "a\x00b", "deep": [[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]},
        "Tag": "school:\x00nope",
    }

    assert post("postmark", body).status_code == 200

    event = BounceEvent.objects.get()
    assert "\x00" not in event.diagnostic and "\ud800" not in event.diagnostic
    assert (event.type, event.reason, event.school) == ("hard", "mailbox_not_found", None)
    assert event.raw is not None and event.raw["Metadata"]["note"] == "ab"


def test_a_malformed_recipient_is_logged_and_acknowledged(caplog: pytest.LogCaptureFixture) -> None:
    batch = [
        valid_body("sendgrid")[0],
        {"email": "not an address", "event": "bounce", "type": "bounce", "sg_event_id": "sg-2", "timestamp": 1},
        {"email": "nul\x00@example.com", "event": "bounce", "type": "bounce", "sg_event_id": "sg-3", "timestamp": 1},
        {"email": {"x": 1}, "event": "bounce", "sg_event_id": "sg-4", "timestamp": 1},
    ]
    with caplog.at_level(logging.WARNING, logger="deliverability.webhooks"):
        response = post("sendgrid", batch)

    assert response.status_code == 200  # acknowledged: a retry could never store them either
    assert [e[0] for e in stored()] == ["bounced@example.com"]
    assert "not an address" in caplog.text


def test_an_error_while_storing_is_a_5xx_so_that_the_provider_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    def database_down(**kwargs: Any) -> None:
        raise OperationalError("the database is down")

    monkeypatch.setattr(webhooks, "record_bounce", database_down)

    response = post("postmark", valid_body("postmark"), client=Client(raise_request_exception=False))

    # Not the 400 of an unreadable body: the provider must try again later (a database outage
    # is the project's 503, any other failure Django's 500).
    assert response.status_code in {500, 503}
    assert nothing_stored()


# --- which school an event belongs to ----------------------------------------------------------


def test_school_from_metadata_scopes_a_complaint_to_that_school(school_a: School) -> None:
    contact = ContactFactory(school=school_a, email="anna@example.com")
    complaint = {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": "anna@example.com"}]},
    }
    complaint["mail"] = {"messageId": "m-1", "headers": [{"name": "X-Metadata", "value": '{"school": "school-a"}'}]}

    post("amazon_ses", ses_notification(complaint, sns_id="n-complaint"))

    event = BounceEvent.objects.get()
    assert (event.school, event.contact) == (school_a, contact)
    assert suppressions() == [("anna@example.com", "school-a", "bulk_and_automation", "complaint")]


def test_school_from_a_school_tag(school_b: School) -> None:
    post("postmark", valid_body("postmark") | {"Tag": "school:school-b"})

    assert BounceEvent.objects.get().school == school_b


def test_metadata_school_wins_over_a_tag(school_a: School, school_b: School) -> None:
    post("mailjet", mailjet("spam", Payload='{"school": "school-a"}', customcampaign="school:school-b"))

    assert BounceEvent.objects.get().school == school_a


@pytest.mark.parametrize("slug", ["no-such-school", "", "bad slug", "x" * 300, "ab\x00c"])
def test_an_unknown_or_malformed_school_records_the_event_without_one(school_a: School, slug: str) -> None:
    post("sparkpost", [sparkpost("spam_complaint", rcpt_meta={"school": slug})])

    event = BounceEvent.objects.get()
    assert (event.type, event.school) == ("complaint", None)
    # DESIGN.md's fallback for an unknown school: platform-wide, bulk and automation only.
    assert suppressions() == [("recipient@example.com", None, "bulk_and_automation", "complaint")]


def test_category_from_metadata() -> None:
    post(
        "brevo", brevo("hard_bounce", reason="550 5.1.1 user unknown", **{"X-Mailin-custom": '{"category": "system"}'})
    )
    post("brevo", brevo("soft_bounce", email="b@example.com", **{"X-Mailin-custom": '{"category": "nonsense"}'}))

    assert dict(BounceEvent.objects.values_list("email", "category")) == {
        "recipient@example.com": "system",
        "b@example.com": "",
    }


# --- counting: soft failures, deliveries, deferrals --------------------------------------------

DAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def ses_notification(message: dict[str, Any], *, sns_id: str, at: datetime = DAY) -> dict[str, Any]:
    """An SNS envelope as Amazon SNS posts it for an SES notification."""
    return {
        "Type": "Notification",
        "MessageId": sns_id,
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-events",
        "Message": json.dumps(message),
        "Timestamp": at.isoformat().replace("+00:00", "Z"),
        "SignatureVersion": "1",
        "Signature": "EXAMPLE==",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-example.pem",
    }


def ses_bounce(recipient: str, bounce_type: str, subtype: str, *, mail_id: str = "m-1", diagnostic: str = "") -> dict:
    entry = {"emailAddress": recipient} | ({"diagnosticCode": diagnostic} if diagnostic else {})
    return {
        "notificationType": "Bounce",
        "bounce": {"bounceType": bounce_type, "bounceSubType": subtype, "bouncedRecipients": [entry]},
        "mail": {"messageId": mail_id, "destination": [recipient]},
    }


def ses_soft_bounce(n: int, at: datetime) -> dict[str, Any]:
    bounce = ses_bounce("full@example.com", "Transient", "MailboxFull", mail_id=f"m-{n}")
    return ses_notification(bounce, sns_id=f"n-{n}", at=at)


def test_five_soft_failures_on_three_days_suppress_for_bulk_and_automation() -> None:
    for n, days in enumerate([0, 0, 1, 2, 2]):
        post("amazon_ses", ses_soft_bounce(n, DAY + timedelta(days=days, hours=n)))

    assert {e[1:4] for e in stored()} == {("soft", "failed", "mailbox_full")}
    assert suppressions() == [("full@example.com", None, "bulk_and_automation", "soft_bounce_limit")]


def test_a_delivery_webhook_resets_the_soft_count() -> None:
    for n, days in enumerate([0, 1, 2, 2]):
        post("amazon_ses", ses_soft_bounce(n, DAY + timedelta(days=days, hours=n)))
    delivery = {
        "notificationType": "Delivery",
        "mail": {"messageId": "m-ok"},
        "delivery": {"recipients": ["full@example.com"], "smtpResponse": "250 2.0.0 OK"},
    }
    post("amazon_ses", ses_notification(delivery, sns_id="n-ok", at=DAY + timedelta(days=3)))
    post("amazon_ses", ses_soft_bounce(9, DAY + timedelta(days=4)))

    assert [e[1] for e in stored()] == ["soft"] * 4 + ["delivered", "soft"]
    assert suppressions() == []


def test_deferrals_are_recorded_but_never_counted() -> None:
    for day in range(6):
        deferral = {
            "email": "slow@example.com",
            "event": "deferred",
            "response": "451 4.3.0 Mailbox temporarily unavailable",
            "sg_event_id": f"deferred-{day}",
            "timestamp": int((DAY + timedelta(days=day)).timestamp()),
        }
        post("sendgrid", [deferral])

    assert [e[1:4] for e in stored()] == [("soft", "delayed", "server_unavailable")] * 6
    assert suppressions() == []


# --- Amazon SNS housekeeping: no network in tests --------------------------------------------


def sns_subscription(kind: str = "SubscriptionConfirmation") -> dict[str, Any]:
    return {
        "Type": kind,
        "MessageId": "sub-1",
        "Token": "a-token",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-events",
        "Message": "You have chosen to subscribe to the topic ...",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=a-token",
        "Timestamp": "2026-11-20T12:00:00.000Z",
    }


class FakeSession:
    """boto3's Session at the HTTP boundary: records the SNS calls instead of making them."""

    calls: list[tuple[str, dict[str, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        pass

    def client(self, service: str, region_name: str | None = None, **kwargs: Any) -> FakeSession:
        self.calls.append(("client", {"service": service, "region_name": region_name}))
        return self

    def confirm_subscription(self, **kwargs: Any) -> None:
        self.calls.append(("confirm_subscription", kwargs))

    def close(self) -> None:
        pass


@pytest.fixture
def sns(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    FakeSession.calls = []
    monkeypatch.setattr("boto3.session.Session", FakeSession)
    return FakeSession.calls


def test_sns_subscription_confirmation_is_acknowledged_without_a_network_call(sns: list[Any]) -> None:
    assert post("amazon_ses", sns_subscription()).status_code == 200
    assert sns == [] and nothing_stored()


def test_sns_subscription_is_confirmed_through_boto3_when_enabled(settings: Any, sns: list[Any]) -> None:
    settings.ANYMAIL = {**settings.ANYMAIL, "AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS": True}

    assert post("amazon_ses", sns_subscription()).status_code == 200

    assert sns == [
        ("client", {"service": "sns", "region_name": "eu-west-1"}),
        (
            "confirm_subscription",
            {
                "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-events",
                "Token": "a-token",
                "AuthenticateOnUnsubscribe": "true",
            },
        ),
    ]
    assert nothing_stored()


def test_sns_unsubscribe_and_topic_validation_messages_store_nothing() -> None:
    validated = {
        **ses_notification({}, sns_id="v-1"),
        "Message": "Successfully validated SNS topic for Amazon SES event publishing.",
    }
    assert post("amazon_ses", sns_subscription("UnsubscribeConfirmation")).status_code == 200
    assert post("amazon_ses", validated).status_code == 200
    assert nothing_stored()


def test_ses_event_types_that_are_not_delivery_outcomes_are_acknowledged() -> None:
    for n, kind in enumerate(["Send", "Open", "Click"]):
        event = {"eventType": kind, "mail": {"messageId": "m", "destination": ["a@example.com"]}, kind.lower(): {}}
        assert post("amazon_ses", ses_notification(event, sns_id=f"e-{n}")).status_code == 200
    assert nothing_stored()


@pytest.mark.parametrize(
    ("bounce_type", "subtype", "diagnostic", "expected"),
    [
        # classification.md's SES rows
        ("Permanent", "NoEmail", "", ("hard", "mailbox_not_found", False)),
        ("Permanent", "Suppressed", "", ("hard", "mailbox_not_found", False)),
        ("Permanent", "OnAccountSuppressionList", "", ("hard", "rejected", True)),
        ("Transient", "General", "", ("soft", "server_unavailable", False)),
        ("Transient", "MessageTooLarge", "", ("soft", "message_too_large", False)),
        ("Transient", "ContentRejected", "", ("soft", "spam_filtered", False)),
        ("Undetermined", "Undetermined", "", ("unknown", "unknown", False)),
        # the verdict decides the type, the diagnostic the reason
        ("Transient", "General", "smtp; 452 4.2.2 mailbox full", ("soft", "mailbox_full", False)),
        ("Permanent", "General", "smtp; 550 5.1.2 host not found", ("hard", "domain_not_found", False)),
    ],
)
def test_ses_bounce_verdicts(bounce_type: str, subtype: str, diagnostic: str, expected: tuple[Any, ...]) -> None:
    bounce = ses_bounce("x@example.com", bounce_type, subtype, diagnostic=diagnostic)
    post("amazon_ses", ses_notification(bounce, sns_id="n-verdict"))

    event = BounceEvent.objects.get()
    assert (event.type, event.reason, event.record_only) == expected


def test_ses_delivery_delay_is_a_soft_delay_never_counted() -> None:
    delay = {
        "eventType": "DeliveryDelay",
        "mail": {"messageId": "m-1", "destination": ["slow@example.com"]},
        "deliveryDelay": {
            "delayType": "TransientCommunicationFailure",
            "delayedRecipients": [
                {"emailAddress": "slow@example.com", "status": "4.4.1", "diagnosticCode": "smtp; 421 4.4.1 timed out"}
            ],
        },
    }
    post("amazon_ses", ses_notification(delay, sns_id="n-delay"))

    assert stored() == [("slow@example.com", "soft", "delayed", "server_unavailable", False, "webhook:amazon_ses")]
    assert BounceEvent.objects.get().status == "4.4.1"


# --- Brevo (documented format: developers.brevo.com, transactional webhooks) -----------------


def brevo(event: str, *, email: str = "recipient@example.com", reason: str = "", **extra: Any) -> dict[str, Any]:
    body = {
        "event": event,
        "email": email,
        "id": 123456,  # the account's id, not the event's: Brevo gives events no id
        "date": "2026-11-19 13:00:00",
        "ts": 1795089600,
        "message-id": "<202611201300.12345678901@smtp-relay.mailin.fr>",
        "ts_event": 1795089600,
        "ts_epoch": 1795089600123,
        "subject": "Twoja lekcja",
        "tag": "transactional",
        "sending_ip": "185.41.28.1",
    }
    return body | ({"reason": reason} if reason else {}) | extra


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            brevo("hard_bounce", reason=" RecipientError: 550 5.5.0 Requested action not taken: mailbox unavailable."),
            ("hard", "failed", "mailbox_not_found", False),
        ),
        # soft_bounce: soft (Brevo gave up) and counted, whatever the code says
        (brevo("soft_bounce", reason="550 5.2.2 mailbox full"), ("soft", "failed", "mailbox_full", False)),
        (
            brevo("soft_bounce", reason="undefined Unable to find MX of domain no-mx.example.com"),
            ("soft", "failed", "server_unavailable", False),
        ),
        # deferred: still retrying, never hard (Brevo labels some final refusals "deferred")
        (
            brevo(
                "deferred", reason="550 RecipientError: 550 5.1.1 <x@example.com>: User unknown in virtual alias table"
            ),
            ("soft", "delayed", "server_unavailable", False),
        ),
        (brevo("blocked", reason="blocked : due to blacklist user"), ("soft", "failed", "spam_filtered", True)),
        (brevo("invalid_email", reason="invalid email address"), ("unknown", "failed", "unknown", True)),
        (brevo("spam"), ("complaint", "failed", "complaint", False)),
        (brevo("complaint"), ("complaint", "failed", "complaint", False)),
        (brevo("delivered"), ("delivered", "delivered", "delivered", False)),
        (brevo("error"), ("unknown", "failed", "unknown", True)),
    ],
    ids=lambda v: v["event"] if isinstance(v, dict) else None,
)
def test_brevo_events(body: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert post("brevo", body).status_code == 200

    event = BounceEvent.objects.get()
    assert (event.type, event.action, event.reason, event.record_only) == expected
    assert (event.source, event.message_id) == ("webhook:brevo", "202611201300.12345678901@smtp-relay.mailin.fr")
    assert event.occurred_at == datetime(2026, 11, 19, 12, 0, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize("event", ["request", "opened", "unique_opened", "click", "unsubscribe", "list_addition"])
def test_brevo_events_that_are_not_delivery_outcomes_are_acknowledged(event: str) -> None:
    assert post("brevo", brevo(event)).status_code == 200
    assert nothing_stored()


def test_brevo_retry_without_an_event_id_is_a_no_op() -> None:
    body = brevo("hard_bounce", reason="550 5.1.1 user unknown")
    post("brevo", body)
    post("brevo", body)
    post("brevo", body | {"ts_epoch": body["ts_epoch"] + 60_000})  # a later event: a new one

    assert len(stored()) == 2
    assert len(suppressions()) == 1


def test_event_with_neither_id_nor_time_is_keyed_by_its_payload() -> None:
    body = {k: v for k, v in brevo("spam").items() if k != "ts_epoch"}
    post("brevo", body)
    post("brevo", body)
    post("brevo", body | {"message-id": "<another@smtp-relay.mailin.fr>"})

    assert len(stored()) == 2


# --- Mailjet (documented format: dev.mailjet.com, event API) --------------------------------


def mailjet(event: str, *, email: str = "recipient@example.com", **extra: Any) -> dict[str, Any]:
    return {
        "event": event,
        "time": 1795089600,
        "MessageID": 19421777396190490,
        "Message_GUID": "1ab23cd4-e567-8901-2345-6789f0gh1i2j",
        "email": email,
        "mj_campaign_id": 0,
        "mj_contact_id": 123456789,
        "customcampaign": "",
        "CustomID": "",
        "Payload": "",
    } | extra


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            mailjet("sent", smtp_reply="sent (250 2.0.0 OK 1795089600 a1si123456 - gsmtp)"),
            ("delivered", "delivered", "delivered", False),
        ),
        (
            mailjet(
                "bounce",
                blocked=False,
                hard_bounce=True,
                error_related_to="recipient",
                error="user unknown",
                comment="550 5.1.1 <recipient@example.com>: Recipient address rejected: User unknown",
            ),
            ("hard", "failed", "mailbox_not_found", False),
        ),
        # hard_bounce false: soft by Mailjet's verdict, counted
        (
            mailjet("bounce", blocked=False, hard_bounce=False, error_related_to="recipient", error="quota exceeded"),
            ("soft", "failed", "mailbox_full", False),
        ),
        # greylisted: anymail's deferred (Mailjet retries)
        (
            mailjet("bounce", blocked=True, hard_bounce=False, error_related_to="domain", error="greylisted"),
            ("soft", "delayed", "server_unavailable", False),
        ),
        # blocked: Mailjet's own list (preblocked) → recorded only
        (
            mailjet("blocked", error_related_to="mailjet", error="preblocked"),
            ("unknown", "failed", "unknown", True),
        ),
        (mailjet("spam", source="JMRPP"), ("complaint", "failed", "complaint", False)),
    ],
    ids=["sent", "hard-bounce", "soft-bounce", "greylisted", "blocked", "spam"],
)
def test_mailjet_events(body: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert post("mailjet", [body]).status_code == 200

    event = BounceEvent.objects.get()
    assert (event.type, event.action, event.reason, event.record_only) == expected
    assert (event.source, event.provider_message_id) == ("webhook:mailjet", "19421777396190490")


def test_mailjet_grouped_and_single_events() -> None:
    batch = [
        mailjet("sent", email="a@example.com"),
        mailjet("open", email="a@example.com"),
        mailjet("bounce", email="b@example.com", hard_bounce=True, error="user unknown"),
    ]
    post("mailjet", batch)
    post("mailjet", mailjet("unsub", email="c@example.com"))  # not grouped: a bare object
    post("mailjet", batch)  # Mailjet's retry of the batch

    assert [e[:4] for e in stored()] == [
        ("a@example.com", "delivered", "delivered", "delivered"),
        ("b@example.com", "hard", "failed", "mailbox_not_found"),
    ]


def test_mailjet_school_from_payload(school_b: School) -> None:
    post("mailjet", [mailjet("spam", Payload='{"school": "school-b"}')])

    assert suppressions() == [("recipient@example.com", "school-b", "bulk_and_automation", "complaint")]


# --- SparkPost (documented format: SparkPost event webhooks) --------------------------------


def sparkpost(kind: str, *, event_class: str = "message_event", **extra: Any) -> dict[str, Any]:
    event = {
        "type": kind,
        "campaign_id": "",
        "customer_id": "123456",
        "event_id": f"9235692769381385{len(extra)}",
        "friendly_from": "noreply@platform.example",
        "ip_address": "203.0.113.25",
        "message_id": "000443ee14578172be22",
        "msg_from": "bounces@platform.example",
        "rcpt_meta": {},
        "rcpt_tags": [],
        "rcpt_to": "recipient@example.com",
        "raw_rcpt_to": "recipient@example.com",
        "routing_domain": "example.com",
        "subject": "Twoja lekcja",
        "timestamp": "1795089600",
        "transmission_id": "65832150921904138",
    } | extra
    if "raw_reason" in extra:
        event["reason"] = extra["raw_reason"]
    return {"msys": {event_class: event}}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            sparkpost(
                "bounce",
                bounce_class="10",
                error_code="550",
                raw_reason="550 5.1.1 <recipient@example.com>: Recipient address rejected: User unknown",
            ),
            ("hard", "failed", "mailbox_not_found", False),
        ),
        (
            sparkpost("out_of_band", bounce_class="10", raw_reason="550 5.1.1 No such user"),
            ("hard", "failed", "mailbox_not_found", False),
        ),
        # bounce classes 20-24 and 70 are soft by SparkPost's verdict (counted)
        (
            sparkpost("bounce", bounce_class="22", error_code="552", raw_reason="552 5.2.2 Mailbox full"),
            ("soft", "failed", "mailbox_full", False),
        ),
        (
            sparkpost("bounce", bounce_class="20", error_code="550", raw_reason="550 5.7.1 Message rejected"),
            ("soft", "failed", "spam_filtered", False),
        ),
        # class 25, Admin Failure: SparkPost's own policy → recorded only
        (
            sparkpost("bounce", bounce_class="25", raw_reason="550 5.0.0 recipient address suppressed by policy"),
            ("hard", "failed", "rejected", True),
        ),
        (
            sparkpost(
                "delay", bounce_class="21", error_code="454", raw_reason="454 4.4.4 [internal] no MX or A for domain"
            ),
            ("soft", "delayed", "dns_problem", False),
        ),
        (sparkpost("delivery"), ("delivered", "delivered", "delivered", False)),
        (
            sparkpost("spam_complaint", fbtype="abuse", report_by="fbl.example.com"),
            ("complaint", "failed", "complaint", False),
        ),
        (
            sparkpost("policy_rejection", error_code="554", raw_reason="554 5.7.1 recipient address suppressed"),
            ("hard", "failed", "rejected", True),
        ),
        (
            sparkpost("bounce", bounce_class="60", raw_reason="I am on vacation"),
            ("auto_reply", "failed", "auto_reply", False),
        ),
    ],
    ids=[
        "bounce-10",
        "out-of-band",
        "bounce-22",
        "bounce-20",
        "bounce-25",
        "delay",
        "delivery",
        "spam",
        "policy",
        "auto",
    ],
)
def test_sparkpost_events(body: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert post("sparkpost", [body]).status_code == 200

    event = BounceEvent.objects.get()
    assert (event.type, event.action, event.reason, event.record_only) == expected
    assert (event.source, event.provider_message_id) == ("webhook:sparkpost", "65832150921904138")
    assert event.occurred_at == datetime.fromtimestamp(1795089600, tz=UTC)


def test_sparkpost_batch_ping_and_engagement_events() -> None:
    batch = [
        {"msys": {}},  # SparkPost's "ping"
        sparkpost("injection"),
        sparkpost("open", event_class="track_event"),
        sparkpost("list_unsubscribe", event_class="unsubscribe_event"),
        sparkpost("bounce", bounce_class="10", raw_reason="550 5.1.1 user unknown"),
    ]
    assert post("sparkpost", batch).status_code == 200
    assert post("sparkpost", batch).status_code == 200  # retried batch

    assert [e[1:4] for e in stored()] == [("hard", "failed", "mailbox_not_found")]


def test_sparkpost_school_from_recipient_metadata(school_a: School) -> None:
    post("sparkpost", [sparkpost("spam_complaint", rcpt_meta={"school": "school-a"})])

    assert BounceEvent.objects.get().school == school_a


# --- Postal (documented format: docs.postalserver.io, webhooks; RSA-signed) -----------------


def postal(event: str, *, to: str = "recipient@example.com", tag: str | None = None, **payload: Any) -> dict[str, Any]:
    message = {
        "id": 1571,
        "token": "MzWWQPubXXWz",
        "direction": "outgoing",
        "message_id": "cfb29da8ed1e4ed5a6c8a0f24d7a9ef3@rp.postal.example.com",
        "to": to,
        "from": "noreply@platform.example",
        "subject": "Twoja lekcja",
        "timestamp": 1795089500.07,
        "spam_status": "NotChecked",
        "tag": tag,
    }
    body = {
        "message": message,
        "details": "",
        "output": "",
        "sent_with_ssl": True,
        "timestamp": 1795089600.7,
        "time": 0.2,
    }
    return {"event": event, "timestamp": 1795089600.96, "payload": body | payload, "uuid": f"uuid-{event}"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # HardFail: the receiving server refused for good (anymail calls it "failed")
        (
            postal(
                "MessageDeliveryFailed",
                status="HardFail",
                details="Permanent SMTP delivery error when sending to mx.example.com",
                output="550 5.1.1 <recipient@example.com>: Recipient address rejected: User unknown in local table",
            ),
            ("hard", "failed", "mailbox_not_found", False),
        ),
        (
            postal("MessageDelayed", status="SoftFail", output="451 4.3.0 Temporary lookup failure"),
            ("soft", "delayed", "server_unavailable", False),
        ),
        (
            postal(
                "MessageSent",
                status="Sent",
                details="Message for recipient@example.com accepted",
                output="250 2.0.0 OK",
            ),
            ("delivered", "delivered", "delivered", False),
        ),
        # MessageBounced: a bounce message came back, Postal says no more → unknown, never suppresses
        (
            {
                "event": "MessageBounced",
                "timestamp": 1795089600.96,
                "uuid": "uuid-bounced",
                "payload": {
                    "original_message": postal("x")["payload"]["message"],
                    "bounce": {"id": 1580, "direction": "incoming", "to": "bounces@rp.postal.example.com"},
                },
            },
            ("unknown", "failed", "unknown", False),
        ),
    ],
    ids=["hard-fail", "soft-fail", "sent", "bounced"],
)
def test_postal_events(body: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert post("postal", body).status_code == 200

    event = BounceEvent.objects.get()
    assert (event.type, event.action, event.reason, event.record_only) == expected
    assert (event.source, event.message_id) == (
        "webhook:postal",
        "cfb29da8ed1e4ed5a6c8a0f24d7a9ef3@rp.postal.example.com",
    )


def test_postal_held_and_incoming_messages_are_acknowledged() -> None:
    assert post("postal", postal("MessageHeld", status="Held", details="on the suppression list")).status_code == 200
    incoming = postal("MessageDeliveryFailed", status="HardFail")
    incoming["payload"]["message"]["direction"] = "incoming"
    assert post("postal", incoming).status_code == 200
    assert nothing_stored()


def test_postal_school_tag_and_retry(school_a: School) -> None:
    body = postal("MessageDeliveryFailed", status="HardFail", output="550 5.1.1 user unknown", tag="school:school-a")
    post("postal", body)
    post("postal", body)

    event = BounceEvent.objects.get()
    assert (event.school, event.source_event_id) == (school_a, "uuid-MessageDeliveryFailed")


# --- wiring -----------------------------------------------------------------------------------


def test_exactly_one_receiver_listens_to_anymail_tracking() -> None:
    webhooks.connect_receiver()  # connecting again changes nothing

    assert len(tracking.receivers) == 1


def test_the_timeline_shows_which_provider_each_event_came_from(support: Any) -> None:
    post("amazon_ses", valid_body("amazon_ses"))
    post("postmark", valid_body("postmark"))

    response = client_for(support).get("/admin/deliverability/bounceevent/address/", {"email": "bounced@example.com"})

    assert response.status_code == 200
    assert "Webhook: Amazon SES" in response.content.decode()
    assert "Webhook: Postmark" in response.content.decode()


# --- settings: secrets from the environment -------------------------------------------------


def settings_with(env: dict[str, str], expression: str) -> subprocess.CompletedProcess[str]:
    """Import config.settings in a fresh interpreter with `env`, print `expression` as JSON."""
    names = {"DEBUG", "SECRET_KEY", "WEBHOOK_SECRET", "MAILGUN_WEBHOOK_SIGNING_KEY", "POSTAL_WEBHOOK_KEY"}
    clean = {k: v for k, v in os.environ.items() if k not in names} | env
    code = f"import json; from config import settings as s; print(json.dumps({expression}))"
    return subprocess.run(
        [sys.executable, "-c", code], env=clean, cwd=BASE_DIR, capture_output=True, text=True, timeout=60, check=False
    )


def test_secrets_come_from_the_environment() -> None:
    env = {
        "WEBHOOK_SECRET": "ses:one,ses:two",
        "MAILGUN_WEBHOOK_SIGNING_KEY": "key-1",
        "POSTAL_WEBHOOK_KEY": " MIIB \n",
    }
    result = settings_with(env, "s.ANYMAIL")

    assert result.returncode == 0, result.stderr
    anymail = json.loads(result.stdout)
    assert anymail["WEBHOOK_SECRET"] == ["ses:one", "ses:two"]
    assert (anymail["MAILGUN_WEBHOOK_SIGNING_KEY"], anymail["POSTAL_WEBHOOK_KEY"]) == ("key-1", "MIIB")


def test_production_has_no_default_secret() -> None:
    production = {"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "bo.example.com"}
    first, second = (settings_with(production, "s.ANYMAIL") for _ in range(2))

    assert first.returncode == 0, first.stderr
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    # Unset, the secrets are unguessable (a new one each start): the webhooks refuse every call.
    assert one["WEBHOOK_SECRET"] != two["WEBHOOK_SECRET"]
    assert one["MAILGUN_WEBHOOK_SIGNING_KEY"] != two["MAILGUN_WEBHOOK_SIGNING_KEY"]
    assert "POSTAL_WEBHOOK_KEY" not in one
    assert one["AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS"] is True


def test_a_malformed_webhook_secret_stops_the_start() -> None:
    result = settings_with({"WEBHOOK_SECRET": "no-colon-here"}, "s.ANYMAIL")

    assert result.returncode != 0
    assert "WEBHOOK_SECRET must be user:password" in result.stderr
