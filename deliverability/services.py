"""Every write with consequences: recording bounces and applying the suppression policy,
suppressing and lifting, and the incident guard (DESIGN.md, "Suppression policy").

Each public function is keyword-only, atomic and audited: an `AuditEvent` and, for every
suppress / widen / lift, a `SuppressionChange` row are written in the same transaction.
Callers (admin, portal, API, webhooks, commands) parse input, call one function, render.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from deliverability.addresses import domain_of, normalize_email, normalize_email_fast
from deliverability.classification import classify
from deliverability.conf import policy
from deliverability.models import (
    AuditEvent,
    BounceEvent,
    ChangeKind,
    Contact,
    Incident,
    IncidentStatus,
    ReinstatementRequest,
    RequestOutcome,
    RequestStatus,
    School,
    Suppression,
    SuppressionChange,
)
from deliverability.taxonomy import (
    REASON_TYPE,
    Action,
    BlockedCategories,
    Category,
    EventType,
    Reason,
    SuppressionReason,
)

SYSTEM_POLICY = "policy"

# Advisory-lock namespaces (pg_advisory_xact_lock(int, int)); arbitrary but fixed.
_LOCK_ADDRESS = 0x5B01
_LOCK_CHANGE_LOG = 0x5B02
_LOCK_PATTERN = 0x5B03

# Lengths of the stored text fields; longer input is cut, not refused (a provider's
# diagnostic may be long, and losing the event would be worse).
_MAX_DIAGNOSTIC = 20_000
_FIELD_LIMITS = {"status": 16, "remote_mta": 255, "message_id": 998, "provider_message_id": 255}
_MAX_SOURCE_EVENT_ID = 255

# Hard reasons that suppress the address on the whole platform at once.
_DEAD_ADDRESS = {Reason.MAILBOX_NOT_FOUND, Reason.DOMAIN_NOT_FOUND}
# Soft reasons counted towards `soft_bounce_limit` (only with action `failed`).
_COUNTED_SOFT = {Reason.MAILBOX_FULL, Reason.SERVER_UNAVAILABLE, Reason.DNS_PROBLEM}

# When a new cause meets an active suppression in the same scope, the stronger reason is
# shown (widening never weakens the explanation): higher ranks first.
_REASON_RANK: dict[str, int] = {
    SuppressionReason.MANUAL: 6,
    SuppressionReason.MAILBOX_NOT_FOUND: 5,
    SuppressionReason.DOMAIN_NOT_FOUND: 5,
    SuppressionReason.SENDER_BLOCKED: 4,
    SuppressionReason.REJECTED: 3,
    SuppressionReason.COMPLAINT: 2,
    SuppressionReason.SOFT_BOUNCE_LIMIT: 1,
}


class ServiceError(Exception):
    """A refused request; `str(error)` is a message for the person or client who asked."""


class InvalidBounce(ServiceError):
    pass


class AlreadyDecided(ServiceError):
    pass


@dataclass(frozen=True)
class Actor:
    """Who acts: a user, or a system actor such as "policy", "api:<key>" or "webhook:ses"."""

    user: User | None = None
    label: str = SYSTEM_POLICY

    @classmethod
    def of(cls, user: User | AnonymousUser | None, label: str = SYSTEM_POLICY) -> Actor:
        if user is not None and user.is_authenticated:
            assert isinstance(user, User)
            return cls(user=user, label=user.get_username())
        return cls(label=label)


SYSTEM = Actor()


@dataclass(frozen=True)
class RecordedBounce:
    """What `record_bounce` did: the stored event (the first one, for a repeat), whether it was
    new, the suppression it created or widened (None when it changed none), and whether the
    incident guard held it."""

    event: BounceEvent
    created: bool
    suppression: Suppression | None = None
    held: bool = False


# --- small shared pieces -------------------------------------------------------------------


def _safe_str(text: str) -> str:
    """No NUL (PostgreSQL refuses it in text and jsonb) and no lone surrogate (JSON allows
    "\\ud800", neither database driver can encode it)."""
    text = text.replace("\x00", "")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _clean_text(value: object, limit: int | None = None) -> str:
    """Text safe for both databases, with a bounded length."""
    if value is None:
        return ""
    text = _safe_str(str(value))
    return text[:limit] if limit is not None else text


def _clean_json(value: Any) -> Any:
    """JSON safe for PostgreSQL's jsonb and for JSON at all."""
    if isinstance(value, str):
        return _safe_str(value)
    if isinstance(value, Mapping):
        return {_safe_str(str(k)): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    return _safe_str(str(value))


def _advisory_lock(namespace: int, key: str) -> None:
    """Serialize writers on one key until commit (PostgreSQL). SQLite needs nothing: its
    IMMEDIATE transactions already serialize every writer."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [namespace, key])


def _audit(
    *,
    actor: Actor,
    action: str,
    target: Any,
    email: str = "",
    school: School | None = None,
    before: Any = None,
    after: Any = None,
    note: str = "",
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor.user,
        actor_label=actor.label[:100],
        action=action,
        target_type=type(target).__name__,
        target_id=str(target.pk),
        email=email or "",
        school=school,
        before=_clean_json(before),
        after=_clean_json(after),
        note=_clean_text(note),
    )


def _suppression_state(suppression: Suppression) -> dict[str, Any]:
    return {
        "categories": suppression.categories,
        "reason": suppression.reason,
        "active": suppression.lifted_at is None,
    }


def _append_change(suppression: Suppression, change: str) -> SuppressionChange:
    """Append to the change log in commit order: the transaction-level lock is taken before
    the id is drawn and held until commit, so ids become visible in increasing order."""
    _advisory_lock(_LOCK_CHANGE_LOG, "changes")
    return SuppressionChange.objects.create(
        change=change,
        suppression=suppression,
        email=suppression.email,
        school=suppression.school,
        categories=suppression.categories,
        reason=suppression.reason,
    )


def _wider(current: str, new: str) -> str:
    return BlockedCategories.ALL if BlockedCategories.ALL in (current, new) else current


# --- suppress and lift ---------------------------------------------------------------------


def suppress(
    *,
    email: str,
    school: School | None,
    categories: str,
    reason: str,
    actor: Actor,
    note: str = "",
    cause: BounceEvent | None = None,
    via: str = SYSTEM_POLICY,
) -> tuple[Suppression, str | None]:
    """Make sure `email` is suppressed in the scope (`school` None = platform-wide).

    Returns the active suppression and what changed: "suppressed" (a new row), "widened"
    (an active one in that scope took the new categories and/or the stronger reason), or
    None (it already covered this). A manual suppression needs a note.
    """
    if categories not in BlockedCategories.values:
        raise ServiceError(f"unknown categories {categories!r}")
    if reason not in SuppressionReason.values:
        raise ServiceError(f"unknown suppression reason {reason!r}")
    if reason == SuppressionReason.MANUAL:
        if actor.user is None or not actor.user.has_perm("deliverability.suppress_manually"):
            raise PermissionDenied("Only a deliverability lead can suppress an address manually.")
        if not note.strip():
            raise ServiceError("A manual suppression needs a note.")
    email = normalize_email(email) if via != SYSTEM_POLICY else email
    with transaction.atomic():
        _advisory_lock(_LOCK_ADDRESS, email)
        return _suppress_locked(
            email=email,
            school=school,
            categories=categories,
            reason=reason,
            actor=actor,
            note=note,
            cause=cause,
            via=via,
        )


def _suppress_locked(
    *,
    email: str,
    school: School | None,
    categories: str,
    reason: str,
    actor: Actor,
    note: str,
    cause: BounceEvent | None,
    via: str,
) -> tuple[Suppression, str | None]:
    """`suppress` for a caller that already holds the address lock in its transaction."""
    existing = Suppression.objects.select_for_update().active().filter(email=email, school=school).first()
    if existing is None:
        suppression = Suppression.objects.create(
            email=email,
            school=school,
            categories=categories,
            reason=reason,
            cause=cause,
            created_by=actor.user,
            created_via=via,
            note=_clean_text(note),
        )
        _append_change(suppression, ChangeKind.SUPPRESSED)
        _audit(
            actor=actor,
            action="suppression.created",
            target=suppression,
            email=email,
            school=school,
            after=_suppression_state(suppression),
            note=note,
        )
        return suppression, ChangeKind.SUPPRESSED

    new_categories = _wider(existing.categories, categories)
    new_reason = reason if _REASON_RANK[reason] > _REASON_RANK[existing.reason] else existing.reason
    if new_categories == existing.categories and new_reason == existing.reason:
        # Nothing to widen, but the evidence is fresh: a lift decided on the older state
        # (expected_updated_at) must not win over this bounce.
        existing.updated_at = timezone.now()
        existing.save(update_fields=["updated_at"])
        return existing, None
    before = _suppression_state(existing)
    existing.categories, existing.reason = new_categories, new_reason
    existing.cause = cause or existing.cause
    existing.updated_at = timezone.now()
    existing.save(update_fields=["categories", "reason", "cause", "updated_at"])
    _append_change(existing, ChangeKind.WIDENED)
    _audit(
        actor=actor,
        action="suppression.widened",
        target=existing,
        email=email,
        school=school,
        before=before,
        after=_suppression_state(existing),
        note=note,
    )
    return existing, ChangeKind.WIDENED


def lift_suppression(
    *,
    suppression: Suppression,
    actor: Actor,
    note: str,
    request: ReinstatementRequest | None = None,
    expected_updated_at: datetime | None = None,
) -> Suppression:
    """Lift an active suppression (never deletes it). A person needs the `lift_suppression`
    permission unless the lift comes from an approved reinstatement request; a note is
    required. Lifting an already lifted suppression is refused (a double click lifts once).

    `expected_updated_at` is the state the decider saw: when a bounce refreshed or widened
    the suppression since, the lift is refused, so new evidence is never lifted unseen."""
    if not note.strip():
        raise ServiceError("Lifting a suppression needs a note.")
    if request is None and actor.user is not None and not actor.user.has_perm("deliverability.lift_suppression"):
        raise PermissionDenied("Only a deliverability lead can lift a suppression.")
    with transaction.atomic():
        _advisory_lock(_LOCK_ADDRESS, suppression.email)
        locked = Suppression.objects.select_for_update().get(pk=suppression.pk)
        if locked.lifted_at is not None:
            raise AlreadyDecided("This suppression has already been lifted.")
        if expected_updated_at is not None and locked.updated_at != expected_updated_at:
            raise AlreadyDecided("This suppression changed (a new bounce arrived) since you opened it: review again.")
        before = _suppression_state(locked)
        locked.lifted_at = max(timezone.now(), locked.created_at)
        locked.lifted_by = actor.user
        locked.lift_note = _clean_text(note)
        locked.lifted_by_request = request
        locked.updated_at = locked.lifted_at
        locked.save(update_fields=["lifted_at", "lifted_by", "lift_note", "lifted_by_request", "updated_at"])
        _append_change(locked, ChangeKind.LIFTED)
        _audit(
            actor=actor,
            action="suppression.lifted",
            target=locked,
            email=locked.email,
            school=locked.school,
            before=before,
            after=_suppression_state(locked),
            note=note,
        )
    return locked


# --- record_bounce -------------------------------------------------------------------------


def content_key(**fields: Any) -> str:
    """The idempotency key of an event that carries no id of its own: a hash of its content."""
    canonical = json.dumps(_clean_json(fields), sort_keys=True, default=str, ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def record_bounce(
    *,
    email: str | None,
    source: str,
    occurred_at: datetime,
    source_event_id: str | None = None,
    action: str = Action.FAILED,
    event_type: str | None = None,
    reason: str | None = None,
    sender_side: bool | None = None,
    smtp_code: int | None = None,
    status: str = "",
    diagnostic: str = "",
    remote_mta: str = "",
    category: str = "",
    school: School | None = None,
    message_id: str = "",
    provider_message_id: str = "",
    raw: Any = None,
    record_only: bool = False,
    provider: str | None = None,
    provider_verdict: Mapping[str, str] | None = None,
) -> RecordedBounce:
    """Store one event and apply the suppression policy to it, atomically.

    The address is normalized here (InvalidEmail for a bad one; None = the bounce hid it).
    `event_type`/`reason`/`sender_side` are taken as given when the caller classified the
    event; otherwise `classify()` derives them from the SMTP data. A repeat of the same
    (source, source_event_id, email) returns the first event and changes nothing; without a
    `source_event_id` the key is a hash of the event's content.
    """
    normalized = normalize_email_fast(email) if email is not None else None
    if timezone.is_naive(occurred_at):
        raise InvalidBounce("occurred_at must be timezone-aware")
    if action not in Action.values:
        raise InvalidBounce(f"unknown action {action!r}")
    if category and category not in Category.values:
        raise InvalidBounce(f"unknown category {category!r}")
    if smtp_code is not None and not (200 <= smtp_code <= 599):
        raise InvalidBounce("smtp_code must be an SMTP reply code (200-599)")
    diagnostic = _clean_text(diagnostic, _MAX_DIAGNOSTIC)
    status = _clean_text(status, _FIELD_LIMITS["status"])

    if event_type is None or reason is None:
        verdict = classify(
            smtp_code=smtp_code,
            status=status or None,
            diagnostic=diagnostic or None,
            action=action,
            provider=provider,
            provider_verdict=provider_verdict,
        )
        event_type = event_type or verdict.type
        reason = reason or verdict.reason
        sender_side = verdict.sender_side if sender_side is None else sender_side
    if event_type not in EventType.values or reason not in Reason.values:
        raise InvalidBounce(f"unknown type or reason {event_type!r}/{reason!r}")
    if REASON_TYPE[reason] != event_type:
        raise InvalidBounce(f"reason {reason!r} does not belong to type {event_type!r}")
    if action == Action.DELIVERED or event_type == EventType.DELIVERED:
        action, event_type, reason = Action.DELIVERED, EventType.DELIVERED, Reason.DELIVERED

    # One form for every source (API, bounce messages, webhooks): no angle brackets, so one
    # message reported three ways counts once.
    message_id = _clean_text(message_id, _FIELD_LIMITS["message_id"]).strip().removeprefix("<").removesuffix(">")
    provider_message_id = _clean_text(provider_message_id, _FIELD_LIMITS["provider_message_id"]).strip()
    key = _clean_text(source_event_id, _MAX_SOURCE_EVENT_ID).strip()
    if not key:
        key = content_key(
            email=normalized,
            occurred_at=occurred_at.isoformat(),
            action=action,
            type=event_type,
            reason=reason,
            smtp_code=smtp_code,
            status=status,
            diagnostic=diagnostic,
            message_id=message_id,
            provider_message_id=provider_message_id,
        )
    source = _clean_text(source, 64)

    with transaction.atomic():
        if normalized is not None:
            _advisory_lock(_LOCK_ADDRESS, normalized)
        existing = _existing_event(source, key, normalized)
        if existing is not None:
            return RecordedBounce(event=existing, created=False)
        contact = (
            Contact.objects.filter(school=school, email=normalized).first()
            if school is not None and normalized is not None
            else None
        )
        event = BounceEvent(
            email=normalized,
            domain=domain_of(normalized) if normalized else "",
            school=school,
            contact=contact,
            occurred_at=occurred_at,
            type=event_type,
            action=action,
            reason=reason,
            sender_side=bool(sender_side) and reason != Reason.SENDER_BLOCKED,
            smtp_code=smtp_code,
            status=status,
            diagnostic=diagnostic,
            remote_mta=_clean_text(remote_mta, _FIELD_LIMITS["remote_mta"]),
            category=category,
            message_id=message_id,
            provider_message_id=provider_message_id,
            message_key=message_id or provider_message_id or f"event:{source}:{key}",
            source=source,
            source_event_id=key,
            raw=_clean_json(raw),
            record_only=record_only,
        )
        if normalized is not None:
            event.save()  # the address lock makes the lookup above final
        else:
            try:
                with transaction.atomic():
                    event.save()
            except IntegrityError:
                # Address-less events hold no lock: a concurrent copy may have won.
                existing = _existing_event(source, key, None)
                if existing is None:
                    raise
                return RecordedBounce(event=existing, created=False)
        suppression, held = _apply_policy(event)
    return RecordedBounce(event=event, created=True, suppression=suppression, held=held)


def _existing_event(source: str, key: str, email: str | None) -> BounceEvent | None:
    events = BounceEvent.objects.filter(source=source, source_event_id=key)
    return (events.filter(email=email) if email is not None else events.filter(email__isnull=True)).first()


def _apply_policy(event: BounceEvent, *, guard: bool = True) -> tuple[Suppression | None, bool]:
    """The policy table of DESIGN.md, row by row, for one stored event."""
    if event.email is None or event.record_only or event.sender_side or event.action != Action.FAILED:
        return None, False

    if event.type == EventType.HARD:
        if guard and _held_by_incident(event):
            return None, True
        on_probation = _fail_probation(event)
        if event.reason in _DEAD_ADDRESS:
            return _policy_suppress(event, None, BlockedCategories.ALL, event.reason), False
        if event.reason == Reason.SENDER_BLOCKED:
            return _suppress_for_school(event, SuppressionReason.SENDER_BLOCKED), False
        if event.reason == Reason.REJECTED and (on_probation or _rejected_strikes(event) >= policy("REJECTED_STRIKES")):
            return _policy_suppress(event, None, BlockedCategories.ALL, SuppressionReason.REJECTED), False
        return None, False

    if event.type == EventType.COMPLAINT:
        return _suppress_for_school(event, SuppressionReason.COMPLAINT, BlockedCategories.BULK_AND_AUTOMATION), False

    if event.type == EventType.SOFT and event.reason in _COUNTED_SOFT and _soft_limit_reached(event):
        return (
            _policy_suppress(event, None, BlockedCategories.BULK_AND_AUTOMATION, SuppressionReason.SOFT_BOUNCE_LIMIT),
            False,
        )
    return None, False


def _policy_suppress(event: BounceEvent, school: School | None, categories: str, reason: str) -> Suppression | None:
    assert event.email is not None
    suppression, change = _suppress_locked(
        email=event.email,
        school=school,
        categories=categories,
        reason=reason,
        actor=SYSTEM,
        cause=event,
        via=SYSTEM_POLICY,
        note=f"{event.type} bounce ({event.reason}) from {event.source}",
    )
    return suppression if change else None


def _suppress_for_school(
    event: BounceEvent, reason: str, categories: str = BlockedCategories.ALL
) -> Suppression | None:
    """Scope of the school the bounce belongs to; platform-wide for bulk and automation only
    when the school is unknown (DESIGN.md's fallback)."""
    if event.school_id is None:
        return _policy_suppress(event, None, BlockedCategories.BULK_AND_AUTOMATION, reason)
    return _policy_suppress(event, event.school, categories, reason)


def _failures(event: BounceEvent, since: datetime) -> Any:
    return BounceEvent.objects.filter(
        email=event.email,
        action=Action.FAILED,
        sender_side=False,
        record_only=False,
        occurred_at__gte=since,
        occurred_at__lte=event.occurred_at,
    )


def _rejected_strikes(event: BounceEvent) -> int:
    since = event.occurred_at - timedelta(days=policy("REJECTED_WINDOW_DAYS"))
    rows = _failures(event, since).filter(type=EventType.HARD, reason=Reason.REJECTED)
    return rows.values("message_key").distinct().count()


def _soft_limit_reached(event: BounceEvent) -> bool:
    """5 failed messages on at least 3 distinct days within 14 days, none delivered after."""
    since = event.occurred_at - timedelta(days=policy("SOFT_BOUNCE_WINDOW_DAYS"))
    last_delivery = BounceEvent.objects.filter(
        email=event.email, type=EventType.DELIVERED, occurred_at__lte=event.occurred_at
    ).aggregate(at=Max("occurred_at"))["at"]
    if last_delivery is not None and last_delivery >= since:
        since = last_delivery + timedelta(microseconds=1)
    rows = _failures(event, since).filter(type=EventType.SOFT, reason__in=_COUNTED_SOFT)
    first_seen: dict[str, datetime] = {}
    for key, at in rows.values_list("message_key", "occurred_at").order_by("occurred_at"):
        first_seen.setdefault(key, at)
    days = {at.astimezone(UTC).date() for at in first_seen.values()}
    return len(first_seen) >= policy("SOFT_BOUNCE_LIMIT") and len(days) >= policy("SOFT_BOUNCE_MIN_DAYS")


def _fail_probation(event: BounceEvent) -> bool:
    """A hard bounce during probation: the reinstatement failed (DESIGN.md step 5)."""
    requests = list(
        ReinstatementRequest.objects.select_for_update().filter(
            email=event.email,
            status=RequestStatus.APPROVED,
            outcome=RequestOutcome.PROBATION,
            probation_ends_at__gte=event.occurred_at,
        )
    )
    for request in requests:
        request.outcome = RequestOutcome.FAILED
        request.updated_at = timezone.now()
        request.save(update_fields=["outcome", "updated_at"])
        _audit(
            actor=SYSTEM,
            action="request.probation_failed",
            target=request,
            email=request.email,
            school=request.school,
            before={"outcome": RequestOutcome.PROBATION},
            after={"outcome": RequestOutcome.FAILED, "event": event.pk},
            note=f"{event.reason} during probation",
        )
    return bool(requests)


# --- the incident guard --------------------------------------------------------------------


def _held_by_incident(event: BounceEvent) -> bool:
    """Hold the event when its (domain, reason) has an open incident, or open one when more
    than INCIDENT_THRESHOLD distinct addresses of the domain failed with that reason within
    the window before the event. A pattern a lead confirmed within the window is not held."""
    window = timedelta(minutes=policy("INCIDENT_WINDOW_MINUTES"))
    patterns = Incident.objects.filter(domain=event.domain, reason=event.reason)
    incident = _open_or_trusted(patterns, window)
    if incident is None:
        window_start = event.occurred_at - window
        distinct = (
            BounceEvent.objects.filter(
                domain=event.domain,
                reason=event.reason,
                type=EventType.HARD,
                action=Action.FAILED,
                sender_side=False,
                record_only=False,
                occurred_at__gte=window_start,
                occurred_at__lte=event.occurred_at,
            )
            .values("email")
            .distinct()
            .count()
        )
        if distinct <= policy("INCIDENT_THRESHOLD"):
            return False
        # Over the threshold: serialize the opening so concurrent writers open one incident.
        _advisory_lock(_LOCK_PATTERN, f"{event.domain}|{event.reason}")
        incident = _open_or_trusted(patterns, window)
        if incident is None:
            incident = Incident.objects.create(
                domain=event.domain, reason=event.reason, window_start=window_start, distinct_addresses=distinct
            )
            _audit(
                actor=SYSTEM,
                action="incident.opened",
                target=incident,
                after={"domain": incident.domain, "reason": incident.reason, "distinct_addresses": distinct},
                note=f"{distinct} addresses at {event.domain} failed with {event.reason} within {window}",
            )
    if incident.status == IncidentStatus.CONFIRMED:
        return False
    event.incident = incident
    event.save(update_fields=["incident"])
    return True


def _open_or_trusted(patterns: Any, window: timedelta) -> Incident | None:
    """The open incident of a pattern, else one a lead confirmed within the window (its
    failures are real: not held again), else None."""
    return (
        patterns.filter(
            Q(status=IncidentStatus.OPEN) | Q(status=IncidentStatus.CONFIRMED, decided_at__gte=timezone.now() - window)
        )
        .order_by("-opened_at")
        .first()
    )


def confirm_incident(*, incident: Incident, actor: Actor, note: str) -> list[Suppression]:
    """The failures were real: apply the held events (suppressions follow the policy)."""
    _require_incident_decision(actor, note)
    applied: list[Suppression] = []
    with transaction.atomic():
        locked = _lock_open_incident(incident)
        _close_incident(locked, IncidentStatus.CONFIRMED, actor, note)
        for event in locked.held_events.order_by("occurred_at", "id"):
            suppression, _ = _apply_policy(event, guard=False)
            if suppression is not None:
                applied.append(suppression)
    return applied


def dismiss_incident(*, incident: Incident, actor: Actor, note: str) -> Incident:
    """The failures were the provider's outage: held events stay recorded only."""
    _require_incident_decision(actor, note)
    with transaction.atomic():
        locked = _lock_open_incident(incident)
        _close_incident(locked, IncidentStatus.DISMISSED, actor, note)
    return locked


def incident_rollback_preview(incident: Incident) -> Any:
    """The active suppressions the incident's pattern created by policy in the window
    before the incident opened: what a roll-back would lift."""
    window = timedelta(minutes=policy("INCIDENT_WINDOW_MINUTES"))
    return (
        Suppression.objects.active()
        .filter(
            created_via=SYSTEM_POLICY,
            cause__domain=incident.domain,
            cause__reason=incident.reason,
            created_at__gte=incident.opened_at - window,
            created_at__lte=incident.opened_at,
        )
        .order_by("email", "id")
    )


def rollback_incident(*, incident: Incident, actor: Actor, note: str) -> list[Suppression]:
    """Lift, in one audited action, what `incident_rollback_preview` shows. Only after a
    dismissal, and only by a lead."""
    if actor.user is None or not actor.user.has_perm("deliverability.rollback_incident"):
        raise PermissionDenied("Only a deliverability lead can roll back an incident.")
    if not note.strip():
        raise ServiceError("A roll-back needs a note.")
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if locked.status != IncidentStatus.DISMISSED:
            raise ServiceError("Only a dismissed incident can be rolled back.")
        # Sorted by address so concurrent writers lock in the same order (no deadlock).
        lifted = [
            lift_suppression(suppression=suppression, actor=actor, note=f"Roll-back of incident #{locked.pk}: {note}")
            for suppression in incident_rollback_preview(locked)
        ]
        _audit(
            actor=actor,
            action="incident.rolled_back",
            target=locked,
            after={"lifted": [s.pk for s in lifted]},
            note=note,
        )
    return lifted


def _require_incident_decision(actor: Actor, note: str) -> None:
    if actor.user is None or not actor.user.has_perm("deliverability.decide_incident"):
        raise PermissionDenied("Only a deliverability lead can decide an incident.")
    if not note.strip():
        raise ServiceError("A decision needs a note.")


def _lock_open_incident(incident: Incident) -> Incident:
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if locked.status != IncidentStatus.OPEN:
        raise AlreadyDecided(f"This incident was already {locked.status}.")
    return locked


def _close_incident(incident: Incident, status: str, actor: Actor, note: str) -> None:
    before = {"status": incident.status}
    incident.status = status
    incident.decided_at = timezone.now()
    incident.decided_by = actor.user
    incident.decision_note = _clean_text(note)
    incident.save(update_fields=["status", "decided_at", "decided_by", "decision_note"])
    _audit(
        actor=actor,
        action=f"incident.{status}",
        target=incident,
        before=before,
        after={"status": status, "held_events": incident.held_events.count()},
        note=note,
    )
