"""Bounce reporting and the suppression change feed (DESIGN.md, "Interfaces").

`POST /api/v1/bounces/` validates and records each event on its own through `record_bounce`;
the answer lists a result per event (200 whenever the envelope is valid). `GET
/api/v1/suppressions/changes/` serves the change log in commit order (the services append it
under a transaction-level lock, so an id never becomes visible before a smaller one).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import defaultdict
from datetime import UTC, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.db_router import pin_to_primary
from deliverability.addresses import MAX_LENGTH, InvalidEmail, normalize_email_fast
from deliverability.api.authentication import api_key_of
from deliverability.api.selectors import BlockedBy, blocking_suppressions, isoformat_utc
from deliverability.api.views import ApiView, _errors
from deliverability.models import PLATFORM, ApiKey, School, SuppressionChange
from deliverability.services import InvalidBounce, record_bounce
from deliverability.taxonomy import Action, Category, EventType, Reason

MAX_EVENTS = 1_000
MAX_DIAGNOSTIC = 4_000
_LIMITS = {"event_id": 255, "remote_mta": 255, "message_id": 998, "school": 100, "status": 16}
# Room per event: every string field at its limit, 4 bytes a character, plus keys and quotes.
_EVENT_BYTES = 4 * (MAX_LENGTH + MAX_DIAGNOSTIC + sum(_LIMITS.values()) + 64) + 512
BOUNCES_MAX_BODY_BYTES = MAX_EVENTS * _EVENT_BYTES + 4096

# What each reported kind means to the policy; `bounce` and `delayed` are classified from the
# SMTP data by record_bounce (a delayed one can only ever be soft).
KINDS: dict[str, dict[str, str]] = {
    "bounce": {"action": Action.FAILED},
    "delayed": {"action": Action.DELAYED},
    "complaint": {"action": Action.FAILED, "event_type": EventType.COMPLAINT, "reason": Reason.COMPLAINT},
    "delivered": {"action": Action.DELIVERED, "event_type": EventType.DELIVERED, "reason": Reason.DELIVERED},
}
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_FIELDS = {
    "email",
    "event_id",
    "occurred_at",
    "kind",
    "smtp_code",
    "status",
    "diagnostic",
    "remote_mta",
    "category",
    "school",
    "message_id",
}
_FUTURE_SLACK = timedelta(hours=1)  # clock skew between the mailer and us


class EventError(Exception):
    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("invalid event")
        self.fields = fields


def source_of(key: ApiKey) -> str:
    """The idempotency source of DESIGN.md: the key's scope, so a retry through another key of
    the same scope (a rotated key) is still a duplicate."""
    return "api:platform" if key.school_id is None else f"api:school:{key.school_id}"


def _text(event: dict[str, Any], name: str, errors: dict[str, list[str]], limit: int, *, required: bool = False) -> str:
    value = event.get(name)
    if value is None or value == "":
        if required:
            errors[name] = ["This field is required."]
        return ""
    if not isinstance(value, str):
        errors[name] = ["Expected a string."]
        return ""
    if "\x00" in value:
        errors[name] = ["Must not contain NUL characters."]
        return ""
    if len(value) > limit:
        errors[name] = [f"At most {limit:,} characters."]
        return ""
    return value


def _parse_event(event: Any, key: ApiKey, schools: dict[str, School | None]) -> dict[str, Any]:
    """One reported event → the keyword arguments of record_bounce; EventError otherwise."""
    if not isinstance(event, dict):
        raise EventError({"non_field_errors": ["Expected a JSON object."]})
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(event) - _FIELDS)
    if unknown:
        errors["non_field_errors"] = [f"Unknown fields: {', '.join(unknown[:10])}."]
    email = _text(event, "email", errors, MAX_LENGTH * 2, required=True)
    event_id = _text(event, "event_id", errors, _LIMITS["event_id"], required=True).strip()
    if "event_id" not in errors and not event_id:
        errors["event_id"] = ["This field is required."]
    occurred_text = _text(event, "occurred_at", errors, 64, required=True)
    occurred_at = None
    if occurred_text:
        try:
            occurred_at = parse_datetime(occurred_text)
        except ValueError:
            occurred_at = None
        if occurred_at is None:
            errors["occurred_at"] = ["Expected an ISO 8601 date and time, e.g. 2026-11-27T10:15:00Z."]
        elif occurred_at.tzinfo is None:
            errors["occurred_at"] = ["Give a time zone (e.g. Z or +01:00)."]
        else:
            try:
                occurred_at = occurred_at.astimezone(UTC)
            except (OverflowError, ValueError):
                occurred_at = None
                errors["occurred_at"] = ["Out of range."]
            if occurred_at is not None and occurred_at > timezone.now() + _FUTURE_SLACK:
                errors["occurred_at"] = ["Is in the future."]
    kind = event.get("kind", "bounce")
    if kind not in KINDS:
        errors["kind"] = [f"One of: {', '.join(KINDS)}."]
    smtp_code = event.get("smtp_code")
    if smtp_code is not None and (type(smtp_code) is not int or not 200 <= smtp_code <= 599):
        errors["smtp_code"] = ["Expected an SMTP reply code, an integer from 200 to 599."]
    status = _text(event, "status", errors, _LIMITS["status"])
    if status and not _STATUS.fullmatch(status):
        errors["status"] = ["Expected an enhanced status code such as 5.1.1."]
    diagnostic = _text(event, "diagnostic", errors, MAX_DIAGNOSTIC)
    remote_mta = _text(event, "remote_mta", errors, _LIMITS["remote_mta"])
    message_id = _text(event, "message_id", errors, _LIMITS["message_id"])
    category = event.get("category") or ""
    if category and category not in Category.values:
        errors["category"] = [f"One of: {', '.join(Category.values)}."]
    slug = _text(event, "school", errors, _LIMITS["school"])
    school: School | None = key.school
    if key.school is not None:
        if slug and slug != key.school.slug:
            errors["school"] = [f"This API key acts only for the school {key.school.slug!r}."]
    elif slug:
        # DESIGN.md: a slug that names no school still records the event, without a school.
        if slug not in schools:
            schools[slug] = School.objects.filter(slug=slug).first()
        school = schools[slug]
    normalized = ""
    if "email" not in errors:
        try:
            normalized = normalize_email_fast(email)
        except InvalidEmail as error:
            errors["email"] = [str(error)]
    if errors:
        raise EventError(errors)
    return {
        "email": normalized,
        "source_event_id": event_id,
        "occurred_at": occurred_at,
        "smtp_code": smtp_code,
        "status": status,
        "diagnostic": diagnostic,
        "remote_mta": remote_mta,
        "category": category,
        "school": school,
        "message_id": message_id,
        "raw": {k: event[k] for k in sorted(_FIELDS & set(event))},
        **KINDS[kind],
    }


class BouncesView(ApiView):
    """Report bounces, complaints, delays and deliveries; each event is recorded on its own and
    answered with its result, classification and the address's suppression state."""

    max_body_bytes = BOUNCES_MAX_BODY_BYTES

    @extend_schema(
        operation_id="report_bounces",
        summary="Report one event or a batch of up to 1,000",
        request=inline_serializer(
            "BounceBatch",
            {"events": serializers.ListField(child=serializers.DictField(), max_length=MAX_EVENTS)},
        ),
        responses={
            200: inline_serializer(
                "BounceResults",
                {"results": serializers.ListField(child=serializers.DictField())},
            ),
            **_errors(400, 401, 413, 415, 429),
        },
        examples=[
            OpenApiExample(
                "One hard bounce",
                request_only=True,
                value={
                    "email": "ann@example.com",
                    "event_id": "mailer-123",
                    "occurred_at": "2026-11-27T10:15:00Z",
                    "kind": "bounce",
                    "smtp_code": 550,
                    "status": "5.1.1",
                    "diagnostic": "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown",
                    "category": "bulk",
                    "school": "school-a",
                    "message_id": "<m-123@platform.example>",
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        key = api_key_of(request)
        body = request.data
        if not isinstance(body, dict):
            raise exceptions.ValidationError(
                {"non_field_errors": ['Expected a JSON object: one event or {"events": [...]}.']}
            )
        if "events" in body:
            events = body["events"]
            if not isinstance(events, list):
                raise exceptions.ValidationError({"events": ["Expected a list of events."]})
            if not events:
                raise exceptions.ValidationError({"events": ["Send at least one event."]})
            if len(events) > MAX_EVENTS:
                raise exceptions.ValidationError({"events": [f"At most {MAX_EVENTS:,} events per request."]})
        else:
            events = [body]

        source = source_of(key)
        schools: dict[str, School | None] = {}
        results: list[dict[str, Any]] = []
        pending: list[tuple[dict[str, Any], str, int | None]] = []  # (result, email, school id)
        for event in events:
            sent_id = event.get("event_id") if isinstance(event, dict) else None
            sent_email = event.get("email") if isinstance(event, dict) else None
            result: dict[str, Any] = {
                "event_id": sent_id if isinstance(sent_id, str) else None,
                "email": sent_email if isinstance(sent_email, str) else None,
                "result": "invalid",
                "errors": {},
                "type": None,
                "reason": None,
                "suppressed": False,
                "suppression": None,
            }
            results.append(result)
            try:
                fields = _parse_event(event, key, schools)
                recorded = record_bounce(source=source, **fields)
            except EventError as error:
                result["errors"] = error.fields
                continue
            except (InvalidBounce, InvalidEmail) as error:
                result["errors"] = {"non_field_errors": [str(error)]}
                continue
            result.update(
                result="created" if recorded.created else "duplicate",
                type=recorded.event.type,
                reason=recorded.event.reason,
            )
            pending.append((result, recorded.event.email or "", recorded.event.school_id))
        if pending:
            pin_to_primary(key.prefix)  # the client reads its own writes next
        _suppression_state(pending)
        return Response({"results": results})


def _suppression_state(pending: list[tuple[dict[str, Any], str, int | None]]) -> None:
    """Fill `suppressed` and `suppression` for each recorded event: the suppression that now
    blocks the address for the event's school (platform-wide first). One query per school."""
    by_school: dict[int | None, set[str]] = defaultdict(set)
    for _, email, school_id in pending:
        by_school[school_id].add(email)
    found: dict[int | None, dict[str, BlockedBy]] = {
        school_id: blocking_suppressions(emails, category=Category.BULK, school_id=school_id)
        for school_id, emails in by_school.items()
    }
    for result, email, school_id in pending:
        blocked = found[school_id].get(email)
        if blocked is not None:
            result["suppressed"] = True
            result["suppression"] = {"email": result["email"], "normalized": email, **blocked}


# --- the change feed -----------------------------------------------------------------------


def encode_cursor(change_id: int) -> str:
    return base64.urlsafe_b64encode(f"c1:{change_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, number = text.partition(":")
    if prefix != "c1" or not number.isdigit() or len(number) > 18:
        raise exceptions.ValidationError({"after": ["Not a cursor this API gave out."]})
    return int(number)


class SuppressionChangesView(ApiView):
    """Every suppress, widen and lift, in commit order, after a cursor."""

    @extend_schema(
        operation_id="suppression_changes",
        summary="Suppression changes after a cursor, in commit order",
        description=(
            "Start without `after`; then pass the `next` cursor of each answer. A school key sees "
            "platform-wide changes and its school's. Replaying the feed from the start reproduces the "
            "active list."
        ),
        parameters=[
            OpenApiParameter("after", str, description="The `next` cursor of the previous answer."),
            OpenApiParameter("limit", int, description="Entries per answer, 1 to 1,000 (default 500)."),
        ],
        responses={
            200: inline_serializer(
                "SuppressionChanges",
                {
                    "changes": serializers.ListField(child=serializers.DictField()),
                    "next": serializers.CharField(allow_null=True),
                    "has_more": serializers.BooleanField(),
                },
            ),
            **_errors(400, 401, 429),
        },
    )
    def get(self, request: Request) -> Response:
        key = api_key_of(request)
        after = request.query_params.get("after") or ""
        after_id = decode_cursor(after) if after else 0
        limit_text = request.query_params.get("limit") or "500"
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            raise exceptions.ValidationError({"limit": ["An integer from 1 to 1,000."]})
        limit = int(limit_text)
        changes = SuppressionChange.objects.filter(id__gt=after_id).select_related("school").order_by("id")
        if key.school_id is not None:
            changes = changes.filter(Q(school__isnull=True) | Q(school_id=key.school_id))
        page = list(changes[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
        entries = [
            {
                "cursor": encode_cursor(change.pk),
                "change": change.change,
                "suppression_id": change.suppression_id,
                "email": change.email,
                "scope": PLATFORM if change.school_id is None else "school",
                "school": change.school.slug if change.school is not None else None,
                "categories": change.categories,
                "reason": change.reason,
                "at": isoformat_utc(change.at),
            }
            for change in page
        ]
        next_cursor = entries[-1]["cursor"] if entries else (after or None)
        return Response({"changes": entries, "next": next_cursor, "has_more": has_more})
