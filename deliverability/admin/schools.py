"""Schools and their contacts, each contact with its current status (one query per page), and
the contact page with the address's summary and timeline."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from deliverability.admin.scale import BigTableAdmin, EstimatedCountPaginator, SchoolSlugFilter
from deliverability.admin.timeline import address_link, timeline_context
from deliverability.models import Contact, Membership, School
from deliverability.selectors import ContactStatus, contact_statuses

MEMBERSHIP_FIELDS = (
    "user",
    "role",
    "created_at",
)


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = MEMBERSHIP_FIELDS
    readonly_fields = MEMBERSHIP_FIELDS
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(School)
class SchoolAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at", "contacts_link", "suppressions_link", "events_link"]
    search_fields = ["name", "slug"]  # a few thousand rows at most
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    ordering = ["name"]
    inlines = [MembershipInline]

    def _filtered(self, url_name: str, slug: str, text: Any) -> str:
        return format_html('<a href="{}?{}">{}</a>', reverse(url_name), urlencode({"school": slug}), text)

    @admin.display(description=_("contacts"))
    def contacts_link(self, obj: School) -> str:
        return self._filtered("admin:deliverability_contact_changelist", obj.slug, _("Contacts and status"))

    @admin.display(description=_("suppressions"))
    def suppressions_link(self, obj: School) -> str:
        return self._filtered("admin:deliverability_suppression_changelist", obj.slug, _("Suppressions"))

    @admin.display(description=_("bounces"))
    def events_link(self, obj: School) -> str:
        return self._filtered("admin:deliverability_bounceevent_changelist", obj.slug, _("Bounce events"))


@admin.register(Contact)
class ContactAdmin(BigTableAdmin):
    list_display = ["address", "name", "school", "status_display", "created_at"]
    list_display_links = ["name"]
    list_filter = [SchoolSlugFilter]
    list_select_related = ["school"]
    sortable_by = ["address"]  # by email: indexed
    # The (school, email) unique index serves this order, within one school (the usual filter) too.
    ordering = ["school", "email"]
    search_fields = ["email"]  # exact and normalized: see BigTableAdmin.get_search_results
    raw_id_fields = ["school"]
    # The status is in the summary strip under the form (the same strip as the address page).
    fields = ["address", "name", "school", "created_at", "updated_at"]
    readonly_fields = ["address", "created_at", "updated_at"]
    change_form_template = "admin/deliverability/contact/change_form.html"

    class Media:
        css = {"all": ["deliverability/admin.css"]}

    def with_page_data(self, rows: list[Contact]) -> list[Contact]:
        statuses = contact_statuses(rows)
        for contact in rows:
            contact.current_status = statuses.get(contact.pk)  # type: ignore[attr-defined]
        return rows

    def get_readonly_fields(self, request: HttpRequest, obj: Contact | None = None) -> list[str]:
        # Names are personal data that come from the school (API); the admin doesn't edit them.
        return [*self.readonly_fields, "name", "school"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        return False

    @admin.display(description=_("address"), ordering="email")
    def address(self, obj: Contact) -> str:
        return address_link(obj.email)

    @admin.display(description=_("current status"))
    def status_display(self, obj: Contact) -> str:
        status: ContactStatus | None = getattr(obj, "current_status", None)
        if status is None:  # set for each page by with_page_data
            return "—"
        if status.suppression is None:
            return format_html('<span class="dlv-badge dlv-delivered">{}</span>', status.label)
        return format_html(
            '<span class="dlv-badge dlv-status-{}" title="{}">{}</span> {}',
            status.code,
            status.suppression.get_reason_display(),
            status.label,
            status.suppression.get_reason_display(),
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        return super().get_queryset(request).select_related("school")

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Contact | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(timeline_context(request, obj.email))
        return super().render_change_form(request, context, add, change, form_url, obj)
