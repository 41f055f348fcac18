"""Bounce events: a read-only list over millions of rows, and the sender-side failures report.

The address page and the erasure page hang off this admin's URLs (they read events first)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.db.models.functions import Substr
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from deliverability.admin import erasure as erasure_admin
from deliverability.admin.scale import BigTableAdmin, SchoolSlugFilter
from deliverability.admin.timeline import ADDRESS_URL_NAME, address_link, address_view
from deliverability.explanations import PROVIDER_NAMES, TYPE_ICONS, event_explanation, source_label
from deliverability.models import BounceEvent
from deliverability.selectors import pretty_raw, sender_side_failures
from deliverability.taxonomy import Action, EventType, Reason

DIAGNOSTIC_HEAD = 160


def type_badge(event_type: str, action: str = "") -> str:
    """The coloured badge of an event type (a delayed failure has its own colour)."""
    style = "delayed" if action == Action.DELAYED else event_type
    label = EventType(event_type).label if event_type in EventType.values else event_type
    return format_html(
        '<span class="dlv-badge dlv-{}"><span aria-hidden="true">{}</span> {}</span>',
        style,
        TYPE_ICONS.get(style, "•"),
        label,
    )


def reason_words(reason: str, *, sender_side: bool = False) -> str:
    label = Reason(reason).label if reason in Reason.values else reason
    return format_html('<span title="{}">{}</span>', event_explanation(reason, sender_side=sender_side), label)


class SourceFilter(admin.SimpleListFilter):
    """Where events came from; prefix matches, no DISTINCT over the table."""

    title = _("source")
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [
            ("api", str(_("API"))),
            ("dsn", str(_("Bounce message"))),
            *[(f"webhook:{esp}", f"{_('Webhook')}: {name}") for esp, name in PROVIDER_NAMES.items()],
            ("manual", str(_("Entered by hand"))),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        if value == "api":
            return queryset.filter(source__startswith="api:")
        return queryset.filter(source=value[:64])


@admin.register(BounceEvent)
class BounceEventAdmin(BigTableAdmin):
    list_display = [
        "occurred_at",
        "address",
        "type_display",
        "action",
        "reason_display",
        "sender_side",
        "school",
        "source_display",
        "code_display",
        "diagnostic_display",
    ]
    list_display_links = ["occurred_at"]
    list_filter = [
        "type",
        "action",
        "reason",
        "sender_side",
        SchoolSlugFilter,
        SourceFilter,
        ("occurred_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["school"]
    sortable_by = ["occurred_at"]
    ordering = ["-occurred_at", "-id"]
    search_fields = ["email"]  # exact and normalized: see BigTableAdmin.get_search_results
    raw_id_fields = ["school", "contact", "incident"]
    fieldsets = [
        (None, {"fields": ["address", "occurred_at", "received_at", "type_display", "action", "reason_display"]}),
        (
            _("What the receiving server said"),
            {"fields": ["smtp_code", "status", "remote_mta", "diagnostic", "sender_side", "record_only"]},
        ),
        (
            _("Where it came from"),
            {
                "fields": [
                    "source_display",
                    "source_event_id",
                    "school",
                    "contact",
                    "category",
                    "message_id",
                    "provider_message_id",
                    "incident",
                ]
            },
        ),
        (_("Raw payload"), {"fields": ["raw_display"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "address",
        "occurred_at",
        "received_at",
        "type_display",
        "action",
        "reason_display",
        "smtp_code",
        "status",
        "remote_mta",
        "diagnostic",
        "sender_side",
        "record_only",
        "source_display",
        "source_event_id",
        "school",
        "contact",
        "category",
        "message_id",
        "provider_message_id",
        "incident",
        "raw_display",
    ]

    class Media:
        css = {"all": ["deliverability/admin.css"]}

    def list_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # The list reads the head of the diagnostic only, and never the raw payload.
        return queryset.defer("raw", "diagnostic").annotate(diagnostic_head=Substr("diagnostic", 1, DIAGNOSTIC_HEAD))

    # Nobody writes or deletes events here: they come from the services.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BounceEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: BounceEvent | None = None) -> bool:
        return False

    @admin.display(description=_("address"), ordering="email")
    def address(self, obj: BounceEvent) -> str:
        return address_link(obj.email)

    @admin.display(description=_("type"))
    def type_display(self, obj: BounceEvent) -> str:
        return type_badge(obj.type, obj.action)

    @admin.display(description=_("reason"))
    def reason_display(self, obj: BounceEvent) -> str:
        return reason_words(obj.reason, sender_side=obj.sender_side)

    @admin.display(description=_("source"))
    def source_display(self, obj: BounceEvent) -> str:
        return source_label(obj.source)

    @admin.display(description=_("code"))
    def code_display(self, obj: BounceEvent) -> str:
        return " ".join(str(part) for part in (obj.smtp_code, obj.status) if part)

    @admin.display(description=_("diagnostic"))
    def diagnostic_display(self, obj: BounceEvent) -> str:
        head = getattr(obj, "diagnostic_head", None)
        text = head if head is not None else obj.diagnostic[:DIAGNOSTIC_HEAD]
        return format_html('<span class="dlv-diagnostic">{}</span>', text)

    @admin.display(description=_("raw payload"))
    def raw_display(self, obj: BounceEvent) -> str:
        text = pretty_raw(obj.raw)
        return format_html('<pre class="dlv-raw">{}</pre>', text) if text else "—"

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("address/", wrap(self.address_page), name=ADDRESS_URL_NAME),
            path("address/erase/", wrap(self.erase_page), name="deliverability_address_erase"),
            path("sender-side/", wrap(self.sender_side_page), name="deliverability_sender_side"),
            *super().get_urls(),
        ]

    def address_page(self, request: HttpRequest) -> HttpResponse:
        return address_view(self, request)

    def erase_page(self, request: HttpRequest) -> HttpResponse:
        return erasure_admin.erase_view(self, request)

    def sender_side_page(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Sender-side failures, last 7 days"),
            "opts": self.opts,
            "report": sender_side_failures(days=7),
        }
        return TemplateResponse(request, "admin/deliverability/sender_side.html", context)
