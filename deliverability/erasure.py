"""Erasing an address's personal data (DESIGN.md, "Personal data"): contact names, raw payloads,
diagnostics and request texts are cleared, and every row that held the address holds a keyed
hash of it instead ("the erased token"), so the history stays countable and can still be found
by someone who types the address. The address itself survives only in its suppressions: the
platform's legitimate interest in never mailing it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from deliverability.addresses import InvalidEmail, normalize_email
from deliverability.models import AuditEvent, BounceEvent, Contact, ReinstatementRequest, RequestStatus, Suppression
from deliverability.services import _LOCK_ADDRESS, Actor, ServiceError, _advisory_lock, _audit

ERASED_PREFIX = "erased:"
_TOKEN_SALT = "deliverability.erasure.token"  # noqa: S105 - an HMAC salt, not a secret


def erased_token(email: str) -> str:
    """The stand-in for an erased address: a keyed hash (HMAC-SHA256 with SECRET_KEY), the
    same for the same address, so erased rows stay linked and findable by the address."""
    digest = salted_hmac(_TOKEN_SALT, email, algorithm="sha256").hexdigest()
    return f"{ERASED_PREFIX}{digest[:32]}"


@dataclass(frozen=True)
class Address:
    """The audit target of an erasure: the address, named by its token only."""

    pk: str


@dataclass(frozen=True)
class ErasurePlan:
    """What `erase_address` will do for one address: shown on the confirmation page."""

    email: str
    token: str
    contact_schools: list[str]
    events: int
    events_with_payload: int
    requests: int
    pending_requests: int
    audit_events: int
    active_suppressions: int
    lifted_suppressions: int

    @property
    def contacts(self) -> int:
        return len(self.contact_schools)

    @property
    def has_anything(self) -> bool:
        return bool(self.contacts or self.events or self.requests or self.audit_events)


@dataclass(frozen=True)
class ErasureResult:
    email: str
    token: str
    counts: dict[str, int] = field(default_factory=dict)


def _normalized(email: str) -> str:
    try:
        return normalize_email(email)
    except InvalidEmail as error:
        raise ServiceError(f"Not a valid address: {error}") from None


def erasure_plan(email: str) -> ErasurePlan:
    """Count what erasing `email` touches (a handful of queries, no writes)."""
    email = _normalized(email)
    events = BounceEvent.objects.filter(email=email).exclude(raw__isnull=True, diagnostic="")
    requests = ReinstatementRequest.objects.filter(email=email)
    suppressions = Suppression.objects.filter(email=email)
    return ErasurePlan(
        email=email,
        token=erased_token(email),
        contact_schools=list(
            Contact.objects.filter(email=email).order_by("school__name").values_list("school__name", flat=True)
        ),
        events=BounceEvent.objects.filter(email=email).count(),
        events_with_payload=events.count(),
        requests=requests.count(),
        pending_requests=requests.filter(status=RequestStatus.PENDING).count(),
        audit_events=AuditEvent.objects.filter(email=email).count(),
        active_suppressions=suppressions.filter(lifted_at__isnull=True).count(),
        lifted_suppressions=suppressions.filter(lifted_at__isnull=False).count(),
    )


def _scrub(value: Any, email: str, token: str) -> Any:
    """`value` (text or JSON) with every spelling of the address replaced by the token."""
    if isinstance(value, str):
        lowered = value.lower()
        if email not in lowered:
            return value
        out, start = [], 0
        while (found := lowered.find(email, start)) != -1:
            out.append(value[start:found])
            out.append(token)
            start = found + len(email)
        out.append(value[start:])
        return "".join(out)
    if isinstance(value, dict):
        return {_scrub(k, email, token): _scrub(v, email, token) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, email, token) for v in value]
    return value


def erase_address(*, email: str, actor: Actor, note: str) -> ErasureResult:
    """Anonymize everything held about `email` except its suppressions, atomically, with one
    audit event (`address.erased`) that names the token, never the address.

    - contacts: name cleared, address replaced by the token (one per school stays);
    - bounce events: diagnostic and raw payload cleared, address replaced by the token;
    - reinstatement requests: texts cleared, address replaced; pending ones are withdrawn;
    - audit events: the address replaced in their address field, notes and states;
    - suppressions and their change log: kept as they are.

    Only a user with `erase_address` (deliverability leads) may erase; a note is required.
    """
    if actor.user is None or not actor.user.has_perm("deliverability.erase_address"):
        raise PermissionDenied("Only a deliverability lead can erase an address.")
    if not note.strip():
        raise ServiceError("Erasing an address needs a note (for example the data subject's request).")
    email = _normalized(email)
    token = erased_token(email)
    now = timezone.now()
    counts: dict[str, int] = {}
    with transaction.atomic():
        _advisory_lock(_LOCK_ADDRESS, email)

        # Contacts: a school that already has the token (an earlier erasure of a re-added
        # contact) keeps that row; the new one's events move to it and it goes.
        contacts = list(Contact.objects.select_for_update().filter(email=email))
        erased_schools = set(
            Contact.objects.filter(email=token, school_id__in=[c.school_id for c in contacts]).values_list(
                "school_id", "id"
            )
        )
        kept_by_school = dict(erased_schools)
        for contact in contacts:
            if contact.school_id in kept_by_school:
                BounceEvent.objects.filter(contact=contact).update(contact_id=kept_by_school[contact.school_id])
                contact.delete()
            else:
                contact.email, contact.name, contact.updated_at = token, "", now
                contact.save(update_fields=["email", "name", "updated_at"])
        counts["contacts"] = len(contacts)

        # Bounce events: a retry recorded after an earlier erasure would collide with its
        # erased twin on the idempotency key; its event id is made unique instead.
        events = BounceEvent.objects.filter(email=email)
        twins = events.filter(Q(source_event_id__in=BounceEvent.objects.filter(email=token).values("source_event_id")))
        for event in twins.only("id", "source_event_id"):
            event.source_event_id = f"{event.source_event_id[:200]}#erased-{event.pk}"
            event.save(update_fields=["source_event_id"])
        counts["events"] = events.update(email=token, diagnostic="", raw=None)

        requests = ReinstatementRequest.objects.filter(email=email)
        # The admin's own log names a request by its __str__, which holds the address.
        request_ids = [str(pk) for pk in requests.values_list("pk", flat=True)]
        entries = LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(ReinstatementRequest), object_id__in=request_ids
        )
        for entry in entries:
            entry.object_repr = _scrub(entry.object_repr, email, token)[:200]
            entry.change_message = _scrub(entry.change_message, email, token)
            entry.save(update_fields=["object_repr", "change_message"])
        counts["withdrawn_requests"] = requests.filter(status=RequestStatus.PENDING).update(
            status=RequestStatus.WITHDRAWN, updated_at=now
        )
        counts["requests"] = requests.update(email=token, reason="", decision_note="", updated_at=now)

        # The one sanctioned rewrite of audit events: the address goes, who-did-what stays.
        audits = list(AuditEvent.objects.filter(email=email).only("id", "email", "note", "before", "after"))
        for audit in audits:
            audit.email = token
            audit.note = _scrub(audit.note, email, token)
            audit.before = _scrub(audit.before, email, token)
            audit.after = _scrub(audit.after, email, token)
        AuditEvent.objects.bulk_update(audits, ["email", "note", "before", "after"], batch_size=500)
        counts["audit_events"] = len(audits)
        counts["suppressions_kept"] = Suppression.objects.filter(email=email).count()

        _audit(
            actor=actor,
            action="address.erased",
            target=Address(pk=token),
            email=token,
            after=counts,
            note=_scrub(note, email, token),
        )
    return ErasureResult(email=email, token=token, counts=counts)
