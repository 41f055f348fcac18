"""Provider webhooks (django-anymail's `tracking` signal) → `record_bounce`, one call per event.

anymail verifies each call (basic auth, Mailgun's HMAC, Postal's RSA signature) and turns the
provider's body into `AnymailTrackingEvent`s; this module re-classifies each one with the
provider's own verdict (anymail flattens hard and soft into ``bounced``), finds its school, and
records it under the source ``webhook:<esp>``. docs/webhooks.md says how each provider is set up.

HTTP semantics are anymail's: a bad secret or signature is a 400 and nothing is stored; an event
we ignore (opens, unsubscribes, ...) is acknowledged with a 200. A body anymail can't read is a
400 too (`UnreadableWebhookMiddleware`), never a 500; an error while storing (the database is
down) is a 500, so that the provider retries later.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from anymail.exceptions import AnymailError, AnymailImproperlyInstalled
from anymail.signals import AnymailTrackingEvent, tracking
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import timezone

from deliverability.addresses import InvalidEmail
from deliverability.classification import Verdict, classify_verdict, parse_smtp_code, parse_status
from deliverability.models import School
from deliverability.services import RecordedBounce, ServiceError, content_key, record_bounce
from deliverability.taxonomy import Action, Category, Classification, EventType, Reason

logger = logging.getLogger(__name__)

WEBHOOK_PATH_PREFIX = "/webhooks/anymail/"

# Nesting kept in a stored payload (and in the hash of an event without id or time): deeper
# levels become "…". Real payloads are a few levels deep; a hostile one must not exhaust the
# stack of the JSON encoders further down.
_MAX_RAW_DEPTH = 16
_MAX_TEXT = 20_000
_SLUG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,99}")
_SCHOOL_TAG = "school:"
_MESSAGE_ID_RE = re.compile(r"<([^<>\s]+)>")


# --- reading the provider's payload ---------------------------------------------------------


def _text(value: object, limit: int = _MAX_TEXT) -> str:
    """`value` as text fit for both databases: no NUL, no lone surrogates (JSON allows
    "\\ud800"; neither UTF-8 database driver does), bounded; "" for None and containers."""
    if value is None or isinstance(value, Mapping | list | tuple | bool):
        return ""
    text = value if isinstance(value, str) else str(value)
    return text[:limit].encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def _get(value: object, *path: str) -> Any:
    """`value[path[0]][path[1]]...`, or None where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _list(value: object) -> list[Any]:
    """`value` when it is a list, else an empty one (a payload may put anything anywhere)."""
    return value if isinstance(value, list) else []


def _bounded(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a payload: text cleaned as `_text` does, nesting bounded."""
    if depth > _MAX_RAW_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        items = value.lists() if hasattr(value, "lists") else value.items()  # a QueryDict keeps every value
        return {_text(key, 200): _bounded(item, depth + 1) for key, item in items}
    if isinstance(value, list | tuple):
        return [_bounded(item, depth + 1) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _text(value)


def _message_id(value: object) -> str:
    """An RFC Message-ID as the bounce-message parser stores it: without the angle brackets."""
    text = _text(value, 998).strip()
    match = _MESSAGE_ID_RE.search(text)
    return match.group(1) if match else text.strip("<>")


def _present(source: object, keys: tuple[str, ...]) -> dict[str, str]:
    """The provider's verdict fields that `source` carries (presence matters to the tables)."""
    if not isinstance(source, Mapping):
        return {}
    return {key: _text(source[key], 500) for key in keys if key in source and source[key] is not None}


class _Facts(NamedTuple):
    """What one provider's payload says about one event, beyond anymail's normalized fields."""

    verdict: dict[str, str]  # the provider's own verdict fields, as classify_verdict reads them
    diagnostic: str = ""
    status: str = ""
    smtp_code: object = None
    remote_mta: str = ""
    message_id: str = ""  # the RFC Message-ID of the original
    raw: Any = None


class _Reading(NamedTuple):
    """How to read the verdict of a provider that classification.py has no table for."""

    event_type: str | None = None  # classify as this anymail event type instead of anymail's own
    temporary: bool = False  # the provider says soft: read its text as a temporary failure


_AS_IS = _Reading()


def _ses_facts(event: AnymailTrackingEvent) -> _Facts:
    ses = event.esp_event if isinstance(event.esp_event, Mapping) else {}
    kind = _text(_get(ses, "eventType") or _get(ses, "notificationType"), 100)
    # The event's own object: "bounce", "complaint", "delivery", "deliveryDelay", ...
    key = next((k for k in ses if isinstance(k, str) and k.lower() == kind.lower()), None)
    detail = ses.get(key) if key else None
    recipient = (event.recipient or "").lower() if isinstance(event.recipient, str) else ""
    entry: Mapping[str, Any] = {}
    for list_key in ("bouncedRecipients", "complainedRecipients", "delayedRecipients"):
        for item in _list(_get(detail, list_key)):
            if isinstance(item, Mapping) and _text(item.get("emailAddress")).lower() == recipient:
                entry = item
    verdict = {"notificationType": kind} | _present(
        detail, ("bounceType", "bounceSubType", "complaintFeedbackType", "complaintSubType")
    )
    headers = _get(ses, "mail", "headers")
    header_id = next(
        (
            h.get("value")
            for h in _list(headers)
            if isinstance(h, Mapping) and _text(h.get("name")).lower() == "message-id"
        ),
        None,
    )
    return _Facts(
        verdict=verdict,
        diagnostic=_text(event.mta_response or entry.get("diagnosticCode")),
        status=_text(entry.get("status"), 32),
        remote_mta=_text(_get(detail, "remoteMtaIp"), 255),
        message_id=_message_id(_get(ses, "mail", "commonHeaders", "messageId") or header_id),
        raw=_ses_raw(ses, key, recipient),
    )


def _ses_raw(ses: Mapping[str, Any], key: str | None, recipient: str) -> Any:
    """The notification as one recipient's event: the other recipients of the message (an SES
    notification lists them all) are left out, so erasing an address erases it everywhere."""
    raw = dict(ses)

    def mine(address: object) -> bool:
        return isinstance(address, str) and address.lower() == recipient

    if key and isinstance(raw.get(key), Mapping):
        detail = dict(raw[key])
        for list_key in ("bouncedRecipients", "complainedRecipients", "delayedRecipients"):
            if isinstance(detail.get(list_key), list):
                detail[list_key] = [
                    r for r in detail[list_key] if isinstance(r, Mapping) and mine(r.get("emailAddress"))
                ]
        if isinstance(detail.get("recipients"), list):
            detail["recipients"] = [r for r in detail["recipients"] if mine(r)]
        raw[key] = detail
    if isinstance(raw.get("mail"), Mapping):
        mail = dict(raw["mail"])
        if isinstance(mail.get("destination"), list):
            mail["destination"] = [r for r in mail["destination"] if mine(r)]
        if isinstance(mail.get("headers"), list):
            mail["headers"] = [
                h
                for h in mail["headers"]
                if not (isinstance(h, Mapping) and _text(h.get("name")).lower() in _ADDRESS_HEADERS)
            ]
        if isinstance(mail.get("commonHeaders"), Mapping):
            mail["commonHeaders"] = {k: v for k, v in mail["commonHeaders"].items() if k not in _ADDRESS_HEADERS}
        raw["mail"] = mail
    return raw


_ADDRESS_HEADERS = frozenset({"to", "cc", "bcc"})


def _postmark_facts(event: AnymailTrackingEvent) -> _Facts:
    body = event.esp_event
    verdict = _present(body, ("RecordType", "Type", "SuppressionReason"))
    if isinstance(_get(body, "SuppressSending"), bool):
        verdict["SuppressSending"] = "true" if body["SuppressSending"] else "false"
    # `Details` is the receiving server's text; `Description` is Postmark's generic text for the
    # bounce type ("unknown user, mailbox not found" for every hard bounce): never evidence.
    return _Facts(verdict=verdict, diagnostic=_text(_get(body, "Details")), raw=body)


def _mailgun_facts(event: AnymailTrackingEvent) -> _Facts:
    body = event.esp_event
    if hasattr(body, "lists"):  # a legacy (form-encoded) webhook: a QueryDict of fields
        raw = {k: v for k, v in body.lists() if k not in {"signature", "token"}}
        return _Facts(
            verdict=_present(body, ("event",)),
            diagnostic=_text(event.mta_response or event.description),
            smtp_code=body.get("code"),
            message_id=_message_id(event.message_id),
            raw=raw,
        )
    data = _get(body, "event-data")
    status = _get(data, "delivery-status")
    diagnostic = (
        event.mta_response or _get(status, "description") or _get(data, "reject", "reason") or event.description
    )
    return _Facts(
        verdict=_present(data, ("event", "severity", "reason")),
        diagnostic=_text(diagnostic),
        smtp_code=_get(status, "code"),
        remote_mta=_text(_get(status, "mx-host"), 255),
        message_id=_message_id(_get(data, "message", "headers", "message-id")),
        # The signature block proves the call, it is not part of the event.
        raw={"event-data": data},
    )


def _mailgun_event_id(event: AnymailTrackingEvent) -> object:
    # anymail's event_id is the signature's token, which is new on every call; the event's own
    # id is what a retry repeats.
    return _get(event.esp_event, "event-data", "id")


def _sendgrid_facts(event: AnymailTrackingEvent) -> _Facts:
    body = event.esp_event
    return _Facts(
        verdict=_present(body, ("event", "type")),
        diagnostic=_text(event.mta_response or _get(body, "reason")),
        status=_text(_get(body, "status"), 32),
        message_id=_message_id(_get(body, "smtp-id")),
        raw=body,
    )


def _brevo_facts(event: AnymailTrackingEvent) -> _Facts:
    return _Facts(
        verdict={},
        diagnostic=_text(event.mta_response),
        message_id=_message_id(_get(event.esp_event, "message-id")),
        raw=event.esp_event,
    )


def _mailjet_facts(event: AnymailTrackingEvent) -> _Facts:
    body = event.esp_event
    # Mailjet names the failure in `error` ("user unknown", "quota exceeded") and sometimes
    # quotes the server in `smtp_reply` or `comment`.
    parts = (_text(_get(body, key)) for key in ("smtp_reply", "comment", "error"))
    return _Facts(verdict={}, diagnostic="; ".join(p for p in parts if p), raw=body)


def _sparkpost_event(body: object) -> object:
    """The event inside SparkPost's {"msys": {"<event class>": {...}}} wrapper."""
    wrapper = _get(body, "msys")
    return next(iter(wrapper.values()), None) if isinstance(wrapper, Mapping) else None


def _sparkpost_facts(event: AnymailTrackingEvent) -> _Facts:
    detail = _sparkpost_event(event.esp_event)
    # SparkPost's `message_id` is its own id, not the RFC Message-ID (anymail's message_id is
    # the transmission id).
    return _Facts(
        verdict={},
        diagnostic=_text(event.mta_response or _get(detail, "reason")),
        smtp_code=_get(detail, "error_code"),
        remote_mta=_text(_get(detail, "ip_address"), 255),
        raw=event.esp_event,
    )


def _postal_facts(event: AnymailTrackingEvent) -> _Facts:
    payload = _get(event.esp_event, "payload")
    message = _get(payload, "message") or _get(payload, "original_message")
    return _Facts(
        verdict={},
        diagnostic=_text(event.mta_response or event.description),
        message_id=_message_id(_get(message, "message_id")),
        raw=event.esp_event,
    )


def _other_facts(event: AnymailTrackingEvent) -> _Facts:
    return _Facts(verdict={}, diagnostic=_text(event.mta_response or event.description), raw=event.esp_event)


# Per provider (anymail's esp_name, lower-cased, spaces as "_"): how to read its payload.
_FACTS: dict[str, Callable[[AnymailTrackingEvent], _Facts]] = {
    "amazon_ses": _ses_facts,
    "postmark": _postmark_facts,
    "mailgun": _mailgun_facts,
    "sendgrid": _sendgrid_facts,
    "brevo": _brevo_facts,
    "sendinblue": _brevo_facts,  # anymail's old name for Brevo (its /sendinblue/ URL)
    "mailjet": _mailjet_facts,
    "sparkpost": _sparkpost_facts,
    "postal": _postal_facts,
}

# Providers whose event id is not anymail's `event_id`.
_EVENT_IDS: dict[str, Callable[[AnymailTrackingEvent], object]] = {"mailgun": _mailgun_event_id}


def _brevo_reading(body: object) -> _Reading:
    return _BREVO_EVENTS.get(_text(_get(body, "event"), 100), _AS_IS)


def _mailjet_reading(body: object) -> _Reading:
    if _get(body, "event") == "bounce" and _get(body, "hard_bounce") is False:
        return _Reading(temporary=True)
    return _AS_IS


def _sparkpost_reading(body: object) -> _Reading:
    detail = _sparkpost_event(body)
    return _SPARKPOST_BOUNCE_CLASSES.get(_text(_get(detail, "bounce_class"), 10), _AS_IS)


def _postal_reading(body: object) -> _Reading:
    return _POSTAL_STATUSES.get(_text(_get(body, "payload", "status"), 50), _AS_IS)


# Verdicts of the providers that classification.py has no table for. Where anymail's mapping
# already fits ours (complaints, deliveries, deferrals, drops as `rejected`) there is no row.
_BREVO_EVENTS: dict[str, _Reading] = {
    # soft_bounce: Brevo gave up after a temporary failure; anymail says only "bounced"
    "soft_bounce": _Reading(temporary=True),
    # invalid_email: Brevo refused to send to a malformed address (no server said anything);
    # anymail says "bounced" → like SendGrid's dropped "invalid": recorded only
    "invalid_email": _Reading(event_type="rejected"),
}
_SPARKPOST_BOUNCE_CLASSES: dict[str, _Reading] = {
    # 20 Soft Bounce, 21 DNS Failure, 22 Mailbox Full, 23 Too Large, 24 Timeout, 70 Transient
    # Failure (SparkPost's bounce classification table): soft, reason from the text
    "20": _Reading(temporary=True),
    "21": _Reading(temporary=True),
    "22": _Reading(temporary=True),
    "23": _Reading(temporary=True),
    "24": _Reading(temporary=True),
    "70": _Reading(temporary=True),
    # 25 Admin Failure: SparkPost's own policy (its suppression list) → recorded only
    "25": _Reading(event_type="rejected"),
}
_POSTAL_STATUSES: dict[str, _Reading] = {
    # MessageDeliveryFailed / HardFail: the receiving server refused for good. anymail calls it
    # "failed", which our table reads as "the ESP could not send" (recorded only).
    "HardFail": _Reading(event_type="bounced"),
}
_READINGS: dict[str, Callable[[object], _Reading]] = {
    "brevo": _brevo_reading,
    "sendinblue": _brevo_reading,
    "mailjet": _mailjet_reading,
    "sparkpost": _sparkpost_reading,
    "postal": _postal_reading,
}


def _esp_key(esp_name: str) -> str:
    """anymail's esp_name as our source names it: "Amazon SES" → "amazon_ses"."""
    return "_".join(_text(esp_name, 40).lower().split())


# --- the service ----------------------------------------------------------------------------


def _classify(*, event: AnymailTrackingEvent, esp_name: str) -> tuple[Verdict, _Facts]:
    """The event's verdict (classification.md, "Provider verdicts"): the provider's own fields
    first, then the text; and what its payload says besides."""
    esp = _esp_key(esp_name)
    facts = _FACTS.get(esp, _other_facts)(event)
    reading = _READINGS.get(esp, lambda body: _AS_IS)(event.esp_event)
    event_type = reading.event_type or _text(event.event_type, 50)
    deferred = event_type == "deferred"  # the provider is still retrying
    verdict = classify_verdict(
        provider_verdict={**facts.verdict, "event_type": event_type},
        provider=esp,
        diagnostic=facts.diagnostic or None,
        status=_status(facts),
        smtp_code=_smtp_code(facts),
        action=Action.DELAYED if deferred or reading.temporary else None,
    )
    if reading.temporary and not deferred:
        # A soft bounce the provider gave up on: final, so it counts (read soft, stored failed);
        # soft whatever the text says, server_unavailable when it says nothing we know.
        soft = verdict.classification
        if soft.type == EventType.UNKNOWN:
            soft = Classification(EventType.SOFT, Reason.SERVER_UNAVAILABLE, soft.sender_side)
        verdict = Verdict(soft, verdict.record_only, verdict.ignore, Action.FAILED, verdict.source)
    if event_type == "unknown" and verdict.source == "text":
        # An event anymail does not know and no provider table recognized: not ours to record.
        verdict = Verdict(verdict.classification, ignore=True, source=verdict.source)
    return verdict, facts


def _status(facts: _Facts) -> str | None:
    """The enhanced status code ("5.1.1"): the provider's field, else the one in its text."""
    return parse_status(facts.status) or parse_status(facts.diagnostic)


def _smtp_code(facts: _Facts) -> int | None:
    return parse_smtp_code(facts.smtp_code) if facts.smtp_code is not None else parse_smtp_code(facts.diagnostic)


def record_provider_event(*, event: AnymailTrackingEvent, esp_name: str) -> RecordedBounce | None:
    """Record one anymail tracking event through `record_bounce`, under ``webhook:<esp>``.

    Returns what `record_bounce` did (``created`` False for a provider's retry), or None when
    nothing was recorded: an event that is not a delivery outcome (opens, clicks,
    unsubscribes), or one without a usable recipient address (logged: acknowledging it stops
    the provider from retrying a payload that can never be stored).

    Idempotent per (provider, event id, recipient): the provider's event id when it gives one,
    else the content hash of `record_bounce` (over the event's own time, never the time we got
    it), else, with neither id nor time, a hash of the payload itself.
    """
    esp = _esp_key(esp_name)
    verdict, facts = _classify(event=event, esp_name=esp_name)
    if verdict.ignore:
        logger.debug("webhook:%s %s event acknowledged, not recorded", esp, _text(event.event_type, 50))
        return None
    # The address as the provider sent it: `record_bounce` normalizes it, and refuses one with
    # NUL or other unsafe characters (cleaning them would record a different address).
    email = event.recipient.strip() if isinstance(event.recipient, str) else ""
    if not email:
        logger.warning("webhook:%s %s event without a recipient: not recorded", esp, _text(event.event_type, 50))
        return None

    raw = _bounded(facts.raw)
    occurred_at = event.timestamp if isinstance(event.timestamp, datetime) else None
    if occurred_at is not None and timezone.is_naive(occurred_at):
        occurred_at = occurred_at.replace(tzinfo=UTC)
    event_id = _text(_EVENT_IDS[esp](event) if esp in _EVENT_IDS else event.event_id, 255).strip() or None
    if event_id is None and occurred_at is None:
        event_id = content_key(esp=esp, recipient=email, payload=raw)
    metadata = event.metadata if isinstance(event.metadata, Mapping) else {}
    category = _text(metadata.get("category"), 20)
    classification = verdict.classification
    try:
        return record_bounce(
            email=email,
            source=f"webhook:{esp}",
            occurred_at=occurred_at or timezone.now(),
            source_event_id=event_id,
            action=verdict.action or Action.FAILED,
            event_type=classification.type,
            reason=classification.reason,
            sender_side=classification.sender_side,
            smtp_code=_smtp_code(facts),
            status=_status(facts) or "",
            diagnostic=facts.diagnostic,
            remote_mta=facts.remote_mta,
            category=category if category in Category.values else "",
            school=_school(metadata, event.tags),
            message_id=facts.message_id,
            provider_message_id=_text(event.message_id, 255),
            raw=raw,
            record_only=verdict.record_only,
        )
    except (InvalidEmail, ServiceError) as error:
        logger.warning("webhook:%s event not recorded: %s (recipient %r)", esp, error, _text(email, 100))
        return None


def _school(metadata: Mapping[str, Any], tags: object) -> School | None:
    """The school of DESIGN.md: anymail `metadata["school"]`, else a `school:<slug>` tag; None
    when neither names an existing school (the event is still recorded)."""
    candidates = [_text(metadata.get("school"), 200)]
    tags = [tags] if isinstance(tags, str) else tags  # SendGrid's `category` may be one string
    if isinstance(tags, list | tuple):
        candidates += [_text(t, 200)[len(_SCHOOL_TAG) :] for t in tags if _text(t, 200).startswith(_SCHOOL_TAG)]
    for slug in (c.strip() for c in candidates):
        if _SLUG_RE.fullmatch(slug):
            school = School.objects.filter(slug=slug).first()
            if school is None:
                logger.info("webhook event names an unknown school %r: recorded without one", slug)
            return school
    return None


# --- wiring: the one receiver, and the 400 for unreadable bodies ------------------------------

# Whether the current request reached the signal: errors before it are the body's, after it ours.
_storing: contextvars.ContextVar[bool] = contextvars.ContextVar("webhook_storing", default=False)


def on_tracking(sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: object) -> None:
    """The one receiver of anymail's `tracking` signal (connected in DeliverabilityConfig)."""
    _storing.set(True)
    record_provider_event(event=event, esp_name=esp_name)


def connect_receiver() -> None:
    tracking.connect(on_tracking, dispatch_uid="deliverability.webhooks.on_tracking")


# What anymail's parsers raise on a body they can't read: malformed JSON or UTF-8 (ValueError),
# missing or mistyped fields, out-of-range timestamps, absurd nesting, an SNS message of an
# unknown type (AnymailAPIError), an inbound payload posted to a tracking URL
# (AnymailConfigurationError).
_UNREADABLE = (
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    OverflowError,
    RecursionError,
    AnymailError,
    ImproperlyConfigured,
)


class UnreadableWebhookMiddleware:
    """A provider body that anymail can't parse gets a 400, not a 500 (anymail leaves such
    errors to Django). Only under /webhooks/anymail/, and only before the event reached our
    receiver: an error while storing stays a 500, so that the provider retries."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _storing.set(False)
        try:
            return self.get_response(request)
        finally:
            _storing.reset(token)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(WEBHOOK_PATH_PREFIX) or _storing.get():
            return None
        if isinstance(exception, SuspiciousOperation | AnymailImproperlyInstalled):
            return None  # Django's own 400 (a bad signature); a missing package stays loud
        if not isinstance(exception, _UNREADABLE):
            return None
        level = logging.ERROR if isinstance(exception, ImproperlyConfigured) else logging.WARNING
        logger.log(level, "webhook %s refused: %s: %s", request.path, type(exception).__name__, _text(exception, 300))
        return HttpResponseBadRequest(json.dumps({"error": "unreadable webhook body"}), content_type="application/json")
