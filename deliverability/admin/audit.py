"""The audit log and the suppression change log: read-only, never deleted, searchable by address."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from deliverability.admin.scale import BigTableAdmin, SchoolSlugFilter
from deliverability.admin.timeline import address_link
from deliverability.models import AuditEvent, SuppressionChange


class ActionFilter(admin.SimpleListFilter):
    """What was done, by family (prefix match: no DISTINCT over the log)."""

    title = _("action")
    parameter_name = "family"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        return [
            ("suppression.", _("Suppressions")),
            ("suppressions.", _("Imports and exports")),
            ("request.", _("Reinstatement requests")),
            ("incident.", _("Incidents")),
            ("address.", _("Erasures")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(action__startswith=value[:64]) if value else queryset


class ReadOnlyAdmin(BigTableAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


AUDIT_FIELDS = (
    "at",
    "who",
    "action",
    "target",
    "address",
    "school",
    "before_display",
    "after_display",
    "note",
)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "who", "action", "target", "address", "school", "note_head"]
    list_display_links = ["at"]
    list_filter = [ActionFilter, SchoolSlugFilter, ("at", admin.DateFieldListFilter)]
    list_select_related = ["actor", "school"]
    sortable_by = ["at"]
    ordering = ["-at", "-id"]
    search_fields = ["email"]
    fields = AUDIT_FIELDS
    readonly_fields = AUDIT_FIELDS

    class Media:
        css = {"all": ["deliverability/admin.css"]}

    @admin.display(description=_("who"))
    def who(self, obj: AuditEvent) -> str:
        return obj.actor.get_username() if obj.actor else obj.actor_label

    @admin.display(description=_("target"))
    def target(self, obj: AuditEvent) -> str:
        return f"{obj.target_type} #{obj.target_id}"

    @admin.display(description=_("address"))
    def address(self, obj: AuditEvent) -> str:
        return address_link(obj.email) if obj.email else "—"

    @admin.display(description=_("note"))
    def note_head(self, obj: AuditEvent) -> str:
        return obj.note[:160]

    def _json(self, value: Any) -> str:
        if value is None:
            return "—"
        return format_html("<pre class='dlv-raw'>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))

    @admin.display(description=_("before"))
    def before_display(self, obj: AuditEvent) -> str:
        return self._json(obj.before)

    @admin.display(description=_("after"))
    def after_display(self, obj: AuditEvent) -> str:
        return self._json(obj.after)


@admin.register(SuppressionChange)
class SuppressionChangeAdmin(ReadOnlyAdmin):
    list_display = ["id", "at", "change", "address", "scope", "school", "categories", "reason"]
    list_filter = ["change", SchoolSlugFilter]
    list_select_related = ["school"]
    sortable_by = ["id"]
    ordering = ["-id"]
    # No address search: the change log has no index on it (the address page shows the changes).
    raw_id_fields = ["suppression", "school"]

    @admin.display(description=_("address"))
    def address(self, obj: SuppressionChange) -> str:
        return address_link(obj.email)
