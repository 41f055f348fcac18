"""`seed_demo`: the demo users, schools and three months of history, through the real policy."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from deliverability.models import (
    BounceEvent,
    Contact,
    Incident,
    ReinstatementRequest,
    School,
    Suppression,
    SuppressionChange,
)
from deliverability.taxonomy import EventType, Reason, SuppressionReason

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings: Any) -> None:
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115 - closed at exit


# One seeding serves every check below (seeding takes seconds): the users, the history, then
# a second run that must change nothing.
def test_seed_demo(seeded: None) -> None:
    check_users()
    check_history()
    check_second_run_changes_nothing()


def check_users() -> None:
    support, lead, owner = (User.objects.get(username=name) for name in ["support", "lead", "owner"])
    assert all(user.check_password("demo") for user in (support, lead, owner))
    assert support.is_staff and support.has_perm("deliverability.decide_request")
    assert not support.has_perm("deliverability.lift_suppression")
    assert lead.has_perm("deliverability.lift_suppression") and lead.has_perm("deliverability.approve_high_risk")
    assert not owner.is_staff
    first = School.objects.get(slug="akademia-jezykowa")
    assert list(School.objects.filter(memberships__user=owner)) == [first]


def check_history() -> None:
    assert School.objects.count() == 3
    assert Contact.objects.count() >= 300
    assert BounceEvent.objects.count() >= 2000
    assert set(BounceEvent.objects.values_list("type", flat=True)) == set(EventType.values)
    assert set(BounceEvent.objects.values_list("reason", flat=True)) == set(Reason.values)
    assert BounceEvent.objects.filter(sender_side=True).exists()
    assert BounceEvent.objects.filter(action="delayed").exists()
    active = Suppression.objects.active()
    assert set(active.values_list("reason", flat=True)) == set(SuppressionReason.values)
    assert active.filter(school__isnull=True).exists() and active.filter(school__isnull=False).exists()
    assert Suppression.objects.filter(lifted_at__isnull=False).exists()
    assert ReinstatementRequest.objects.filter(status="pending").count() >= 3
    assert Incident.objects.filter(status="open").exists()
    # The policy made them: every suppression but the manual ones has a cause.
    assert not active.exclude(reason="manual").filter(cause__isnull=True).exists()


def check_second_run_changes_nothing() -> None:
    counts = [
        m.objects.count()
        for m in (User, School, Contact, BounceEvent, Suppression, SuppressionChange, ReinstatementRequest)
    ]
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert [
        m.objects.count()
        for m in (User, School, Contact, BounceEvent, Suppression, SuppressionChange, ReinstatementRequest)
    ] == counts


def test_refused_with_debug_off(settings: Any) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")
    assert not User.objects.exists() and not School.objects.exists()
