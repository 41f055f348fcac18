"""factory_boy factories for the domain model."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.contrib.auth.models import User
from django.utils import timezone

from deliverability import models
from deliverability.taxonomy import Action, BlockedCategories, EventType, Reason, SuppressionReason


class SchoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.School
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"School {n}")
    slug = factory.Sequence(lambda n: f"school-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@users.test")
    password = factory.django.Password("demo")


class OwnerFactory(UserFactory):
    """A user who owns `school`."""

    class Meta:
        skip_postgeneration_save = True

    @factory.post_generation
    def school(self, create: bool, extracted: models.School | None, **kwargs: Any) -> None:
        if create and extracted is not None:
            models.Membership.objects.create(user=self, school=extracted)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Contact

    school = factory.SubFactory(SchoolFactory)
    email = factory.Sequence(lambda n: f"contact{n}@example.com")
    name = factory.Faker("name")


class BounceEventFactory(factory.django.DjangoModelFactory):
    """A stored event as the services would have written it; for tests of readers."""

    class Meta:
        model = models.BounceEvent

    email = factory.Sequence(lambda n: f"bounced{n}@example.com")
    domain = factory.LazyAttribute(lambda e: (e.email or "").rpartition("@")[2])
    occurred_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    type = EventType.HARD
    action = Action.FAILED
    reason = Reason.MAILBOX_NOT_FOUND
    smtp_code = 550
    status = "5.1.1"
    diagnostic = "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown in local recipient table"
    source = "manual"
    source_event_id = factory.Sequence(lambda n: f"evt-{n}")


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Suppression

    email = factory.Sequence(lambda n: f"suppressed{n}@example.com")
    school = None
    categories = BlockedCategories.ALL
    reason = SuppressionReason.MAILBOX_NOT_FOUND
    created_via = "test"
