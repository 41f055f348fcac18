"""prune_events: old history goes, what the product still needs stays."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from deliverability.models import BounceEvent, Incident, ReinstatementRequest, Suppression
from tests.factories import BounceEventFactory, SchoolFactory, SuppressionFactory, UserFactory

pytestmark = pytest.mark.django_db

OLD = timezone.now() - timedelta(days=800)


def test_old_events_are_pruned_in_batches_and_needed_ones_kept() -> None:
    old = [BounceEventFactory(occurred_at=OLD) for _ in range(7)]
    recent = BounceEventFactory(occurred_at=timezone.now() - timedelta(days=10))
    cause = BounceEventFactory(occurred_at=OLD)
    SuppressionFactory(email=cause.email, cause=cause)
    lifted_cause = BounceEventFactory(occurred_at=OLD)
    lifted = SuppressionFactory(email=lifted_cause.email, cause=lifted_cause)
    Suppression.objects.filter(pk=lifted.pk).update(lifted_at=timezone.now())
    pending = BounceEventFactory(occurred_at=OLD, email="asked@example.com")
    ReinstatementRequest.objects.create(
        school=SchoolFactory(),
        email="asked@example.com",
        requested_by=UserFactory(),
        what_changed="other",
        reason="x" * 20,
    )
    incident = Incident.objects.create(domain="example.com", reason="mailbox_not_found", window_start=OLD)
    held = BounceEventFactory(occurred_at=OLD, incident=incident)

    out = StringIO()
    call_command("prune_events", "--dry-run", stdout=out)
    assert "Would delete 8 " in out.getvalue() and BounceEvent.objects.count() == 12

    call_command("prune_events", "--batch-size", "3", stdout=out)
    assert set(BounceEvent.objects.values_list("pk", flat=True)) == {recent.pk, cause.pk, pending.pk, held.pk}
    assert not BounceEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    lifted.refresh_from_db()
    assert lifted.cause is None and Suppression.objects.filter(pk=lifted.pk).exists()  # history stays


def test_days_override_and_bad_arguments() -> None:
    BounceEventFactory(occurred_at=timezone.now() - timedelta(days=40))
    with pytest.raises(CommandError):
        call_command("prune_events", "--days", "0")
    assert BounceEvent.objects.count() == 1
    call_command("prune_events", "--days", "30", stdout=StringIO())
    assert BounceEvent.objects.count() == 0
