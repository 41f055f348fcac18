"""The database itself holds the model's invariants, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from deliverability.models import AuditEvent, BounceEvent, ReinstatementRequest, Suppression
from deliverability.taxonomy import BlockedCategories
from tests.factories import BounceEventFactory, SchoolFactory, SuppressionFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_two_active_platform_suppressions_of_one_address_are_refused_by_the_database() -> None:
    SuppressionFactory(email="dead@example.com", school=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        # bulk_create skips model validation: this is the database's own constraint.
        Suppression.objects.bulk_create(
            [Suppression(email="dead@example.com", school=None, categories="all", reason="manual", created_via="t")]
        )
    assert Suppression.objects.filter(email="dead@example.com").count() == 1


def test_two_active_school_suppressions_of_one_address_are_refused() -> None:
    school = SchoolFactory()
    SuppressionFactory(email="x@example.com", school=school)
    with pytest.raises(IntegrityError), transaction.atomic():
        Suppression.objects.bulk_create(
            [Suppression(email="x@example.com", school=school, categories="all", reason="manual", created_via="t")]
        )


def test_platform_and_school_scopes_and_lifted_rows_coexist() -> None:
    school, other = SchoolFactory(), SchoolFactory()
    lifted = SuppressionFactory(email="x@example.com", school=None)
    lifted.lifted_at = timezone.now()
    lifted.save(update_fields=["lifted_at"])
    SuppressionFactory(email="x@example.com", school=None)
    SuppressionFactory(email="x@example.com", school=school)
    SuppressionFactory(email="x@example.com", school=other)
    assert Suppression.objects.filter(email="x@example.com").active().count() == 3
    assert Suppression.objects.filter(email="x@example.com").count() == 4


def test_enums_are_checked_by_the_database() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Suppression.objects.bulk_create(
            [Suppression(email="x@example.com", categories="everything", reason="manual", created_via="t")]
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        BounceEvent.objects.bulk_create(
            [
                BounceEvent(
                    email="x@example.com",
                    occurred_at=timezone.now(),
                    type="bogus",
                    action="failed",
                    reason="unknown",
                    source="manual",
                    source_event_id="1",
                )
            ]
        )


def test_event_idempotency_key_holds_also_without_an_address() -> None:
    BounceEventFactory(email=None, source="dsn", source_event_id="hash-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        BounceEventFactory(email=None, source="dsn", source_event_id="hash-1")
    BounceEventFactory(email="a@example.com", source="dsn", source_event_id="hash-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        BounceEventFactory(email="a@example.com", source="dsn", source_event_id="hash-1")
    # Another source may reuse the id.
    BounceEventFactory(email="a@example.com", source="webhook:postmark", source_event_id="hash-1")


def test_one_pending_request_per_address_and_school() -> None:
    school, user = SchoolFactory(), UserFactory()
    fields = dict(school=school, email="x@example.com", requested_by=user, what_changed="other", reason="r" * 20)
    ReinstatementRequest.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        ReinstatementRequest.objects.create(**fields)
    ReinstatementRequest.objects.create(**{**fields, "school": SchoolFactory()})


def test_only_an_approved_request_has_an_outcome() -> None:
    school, user = SchoolFactory(), UserFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ReinstatementRequest.objects.create(
            school=school,
            email="x@example.com",
            requested_by=user,
            what_changed="other",
            reason="r" * 20,
            status="rejected",
            outcome="probation",
        )


def test_audit_events_are_append_only() -> None:
    event = AuditEvent.objects.create(actor_label="system", action="test", target_type="t", target_id="1")
    event.note = "changed"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert AuditEvent.objects.get().note == ""


def test_suppression_blocks_by_category() -> None:
    bulk_only = SuppressionFactory(categories=BlockedCategories.BULK_AND_AUTOMATION)
    everything = SuppressionFactory(categories=BlockedCategories.ALL)
    assert bulk_only.blocks("bulk") and bulk_only.blocks("automation") and not bulk_only.blocks("system")
    assert everything.blocks("system")
    everything.lifted_at = timezone.now()
    assert not everything.blocks("bulk")


def test_groups_hold_the_permissions_of_design() -> None:
    from django.contrib.auth.models import Group

    agents = set(Group.objects.get(name="Support agents").permissions.values_list("codename", flat=True))
    leads = set(Group.objects.get(name="Deliverability leads").permissions.values_list("codename", flat=True))
    assert "decide_request" in agents and "view_suppression" in agents
    assert not agents & {"approve_high_risk", "suppress_manually", "lift_suppression", "erase_address"}
    assert agents < leads
    assert {
        "approve_high_risk",
        "suppress_manually",
        "lift_suppression",
        "import_suppressions",
        "export_suppressions",
        "decide_incident",
        "rollback_incident",
        "erase_address",
    } <= leads
