"""Filters of GET /api/v1/suppressions/ (django-filter). Every value is validated before it
reaches the database: an address is normalized, a slug is a slug, a time is in range."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from deliverability.addresses import InvalidEmail, normalize_email_fast
from deliverability.api.serializers import SCOPES
from deliverability.models import PLATFORM, Suppression
from deliverability.taxonomy import SuppressionReason


def as_utc(value: datetime) -> datetime | None:
    """`value` in UTC, or None when it has no UTC equivalent (year 1 with a positive offset).
    Queries get UTC only: PostgreSQL refuses offsets past ±15:59, which Python allows."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


class NormalizedEmailField(forms.CharField):
    def to_python(self, value: Any) -> str | None:
        text = super().to_python(value)
        if not text:
            return text
        try:
            return normalize_email_fast(text)
        except InvalidEmail as error:
            raise forms.ValidationError(f"Not an address: {error}.") from None


class UtcDateTimeField(forms.DateTimeField):
    """ISO 8601 (a date alone means its midnight); without an offset, UTC, the API's zone."""

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        try:
            parsed = parse_datetime(text)
            if parsed is None and (day := parse_date(text)) is not None:
                parsed = datetime.combine(day, time())
        except ValueError:  # well-formed but impossible, e.g. February 30th
            parsed = None
        if parsed is None:
            raise forms.ValidationError("Expected an ISO 8601 time, e.g. 2026-01-31T12:00:00Z.")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        utc = as_utc(parsed)
        if utc is None:
            raise forms.ValidationError("Out of range.")
        return utc


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class EmailFilter(django_filters.CharFilter):
    field_class = NormalizedEmailField


class SlugFilter(django_filters.CharFilter):
    field_class = forms.SlugField


class SuppressionFilter(django_filters.FilterSet):
    email = EmailFilter(help_text="One address (normalized for you).")
    reason = django_filters.ChoiceFilter(choices=SuppressionReason.choices)
    scope = django_filters.ChoiceFilter(choices=SCOPES, method="filter_scope")
    school = SlugFilter(field_name="school__slug", help_text="A school's slug: that school's rows.")
    active = django_filters.BooleanFilter(method="filter_active", help_text="true: not lifted; false: lifted.")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    lifted_after = UtcDateTimeFilter(field_name="lifted_at", lookup_expr="gte")
    lifted_before = UtcDateTimeFilter(field_name="lifted_at", lookup_expr="lt")

    class Meta:
        model = Suppression
        fields: list[str] = []

    def filter_scope(self, queryset: QuerySet[Suppression], name: str, value: str) -> QuerySet[Suppression]:
        return queryset.filter(school__isnull=value == PLATFORM)

    def filter_active(self, queryset: QuerySet[Suppression], name: str, value: bool) -> QuerySet[Suppression]:
        return queryset.filter(lifted_at__isnull=value)
