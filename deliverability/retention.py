"""Retention of personal data in bounce history (DESIGN.md, "Personal data")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from deliverability.models import BounceEvent, IncidentStatus, ReinstatementRequest, RequestStatus, Suppression


@dataclass(frozen=True)
class PruneResult:
    deleted: int
    kept: int


def _expired(older_than: timedelta) -> tuple[QuerySet[BounceEvent], QuerySet[BounceEvent]]:
    cutoff = timezone.now() - older_than
    old = BounceEvent.objects.filter(occurred_at__lt=cutoff)
    # What must stay: the cause of an active suppression (the reason shown to owners), the
    # history of an address support is deciding on, and events an open incident holds.
    keep = (
        Q(pk__in=Suppression.objects.active().filter(cause__isnull=False).values("cause_id"))
        | Q(email__in=ReinstatementRequest.objects.filter(status=RequestStatus.PENDING).values("email"))
        | Q(incident__status=IncidentStatus.OPEN)
    )
    return old.exclude(keep), old.filter(keep)


def prune_events(*, older_than: timedelta, batch_size: int = 5000, dry_run: bool = False) -> PruneResult:
    """Delete expired events in batches of `batch_size`, each in its own short transaction
    (no long lock on a table that writers use all day)."""
    deletable, kept = _expired(older_than)
    if dry_run:
        return PruneResult(deleted=deletable.count(), kept=kept.count())
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(deletable.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            deleted += BounceEvent.objects.filter(pk__in=ids).delete()[0]
    return PruneResult(deleted=deleted, kept=kept.count())
