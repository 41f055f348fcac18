"""The API's own writes: issuing a key and syncing contacts. Keyword-only, atomic, audited,
like `deliverability.services` (where they may move once that module settles)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from deliverability.api.authentication import generate_key, hash_key
from deliverability.api.selectors import existing_contact_emails
from deliverability.models import ApiKey, AuditEvent, Contact, School

_MAX_NAME = ApiKey._meta.get_field("name").max_length or 100


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str  # the whole key: shown once, never stored


def issue_api_key(*, name: str, school: School | None, actor_label: str, acting_user: User | None = None) -> IssuedKey:
    """Create a key (platform-wide when `school` is None) and return it with its secret."""
    name = name.strip()
    if not name or len(name) > _MAX_NAME:
        raise ValueError(f"A key needs a name of 1 to {_MAX_NAME} characters.")
    for _attempt in range(5):  # 36**8 prefixes: a collision is rare, a second one rarer
        prefix, secret = generate_key()
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(name=name, prefix=prefix, key_hash=hash_key(secret), school=school)
                AuditEvent.objects.create(
                    actor=acting_user,
                    actor_label=actor_label[:100],
                    action="api_key.issued",
                    target_type="ApiKey",
                    target_id=str(api_key.pk),
                    school=school,
                    after={"name": name, "prefix": prefix, "school": school.slug if school else None},
                )
        except IntegrityError:
            continue
        return IssuedKey(api_key=api_key, secret=secret)
    raise RuntimeError("Could not draw an unused key prefix.")


def revoke_api_key(*, api_key: ApiKey, actor_label: str, acting_user: User | None = None) -> bool:
    """Revoke a key for good (requests with it answer 401). False when it already was."""
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=api_key.pk, is_active=True).update(is_active=False)
        if revoked:
            AuditEvent.objects.create(
                actor=acting_user,
                actor_label=actor_label[:100],
                action="api_key.revoked",
                target_type="ApiKey",
                target_id=str(api_key.pk),
                school_id=api_key.school_id,
                before={"is_active": True},
                after={"is_active": False},
            )
    api_key.is_active = False
    return bool(revoked)


@dataclass(frozen=True)
class ContactSync:
    created: int
    updated: int


def sync_contacts(*, school: School, contacts: Mapping[str, str | None], actor_label: str) -> ContactSync:
    """Upsert the school's contacts, set-based: `contacts` maps a normalized address to its
    name (None keeps the stored name, "" clears it). Existing rows get the name and
    `updated_at`; new rows are created. One audit event for the batch.

    The created / updated split comes from a read just before the upsert: a concurrent sync
    of the same addresses can shift the counts, never the rows."""
    if not contacts:
        return ContactSync(created=0, updated=0)
    now = timezone.now()
    with transaction.atomic():
        existing = existing_contact_emails(school.pk, contacts.keys())
        named = [
            Contact(school=school, email=email, name=name, created_at=now, updated_at=now)
            for email, name in contacts.items()
            if name is not None
        ]
        unnamed = [
            Contact(school=school, email=email, name="", created_at=now, updated_at=now)
            for email, name in contacts.items()
            if name is None
        ]
        for rows, update_fields in [(named, ["name", "updated_at"]), (unnamed, ["updated_at"])]:
            if rows:
                Contact.objects.bulk_create(
                    rows, update_conflicts=True, unique_fields=["school", "email"], update_fields=update_fields
                )
        result = ContactSync(created=len(contacts) - len(existing), updated=len(existing))
        AuditEvent.objects.create(
            actor_label=actor_label[:100],
            action="contacts.synced",
            target_type="School",
            target_id=str(school.pk),
            school=school,
            after={"created": result.created, "updated": result.updated},
        )
    return result
