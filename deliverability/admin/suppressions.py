"""Suppressions: the list over a million rows, a lead's manual suppression and lift, CSV export
and import (preview, then apply). Every write goes through `services` / `suppression_csv`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.db.models.functions import Substr
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from deliverability import services, suppression_csv
from deliverability.admin.forms import AddressAndNoteForm
from deliverability.admin.scale import BigTableAdmin, SchoolSlugFilter
from deliverability.admin.timeline import address_link, address_url
from deliverability.explanations import suppression_explanation
from deliverability.models import School, Suppression
from deliverability.services import Actor, ServiceError
from deliverability.taxonomy import BlockedCategories, SuppressionReason

MAX_NOTE = 2_000
_IMPORT_SALT = "deliverability.admin.suppression-import"
_IMPORT_MAX_AGE = 3600  # seconds between the preview and the apply


class ScopeFilter(admin.SimpleListFilter):
    title = _("scope")
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        return [("platform", _("Whole platform")), ("school", _("One school"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "platform":
            return queryset.filter(school__isnull=True)
        if self.value() == "school":
            return queryset.filter(school__isnull=False)
        return queryset


class ActiveFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        return [("yes", _("Active")), ("no", _("Lifted"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(lifted_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


def _note_field(label: Any, help_text: Any) -> forms.CharField:
    # CharField refuses NUL characters on its own ("Null characters are not allowed.").
    return forms.CharField(
        label=label, max_length=MAX_NOTE, help_text=help_text, widget=forms.Textarea(attrs={"rows": 3, "cols": 60})
    )


class SchoolAutocomplete(AutocompleteSelect):
    """The admin's autocomplete, which must not crash re-rendering a posted non-number."""

    def optgroups(self, name: str, value: Sequence[str], attrs: dict[str, Any] | None = None) -> Any:
        return super().optgroups(name, [v for v in value if str(v).isdigit()], attrs)


class ManualSuppressionForm(AddressAndNoteForm):
    email = forms.CharField(label=_("Address"), max_length=320)
    school = forms.ModelChoiceField(
        label=_("School"),
        queryset=School.objects.all(),
        required=False,
        help_text=_("Empty: the whole platform."),
    )
    categories = forms.ChoiceField(label=_("Blocks"), choices=BlockedCategories.choices, initial=BlockedCategories.ALL)
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[(SuppressionReason.MANUAL.value, SuppressionReason.MANUAL.label)],
        initial=SuppressionReason.MANUAL,
        help_text=_("A lead's decision; say why in the note."),
    )
    note = _note_field(_("Note"), _("Why: what you know about this address. Required; kept in the audit log."))

    def __init__(self, *args: Any, admin_site: admin.AdminSite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        school_field = self.fields["school"]
        assert isinstance(school_field, forms.ModelChoiceField)
        widget = SchoolAutocomplete(Suppression._meta.get_field("school"), admin_site)
        widget.choices = school_field.choices
        school_field.widget = widget


class LiftForm(forms.Form):
    note = _note_field(_("Note"), _("Why the address may be mailed again. Required; kept in the audit log."))
    seen = forms.CharField(widget=forms.HiddenInput, required=False)

    def clean_note(self) -> str:
        note: str = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError(_("A note is required."))
        return note

    def clean_seen(self) -> datetime | None:
        value = self.cleaned_data.get("seen") or ""
        if not value:
            return None
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError(_("The page was tampered with: reload it."))
        return parsed


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8 CSV with a header. Columns: email (required), school (slug; empty = whole platform), "
            "categories (all or bulk_and_automation), reason, note. An export file works as it is."
        ),
    )
    note = _note_field(_("Note"), _("Where this list comes from. Required; kept in the audit log."))

    def clean_note(self) -> str:
        note: str = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError(_("A note is required."))
        return note

    def clean_file(self) -> suppression_csv.ImportPreview:
        upload = self.cleaned_data["file"]
        if upload.size is not None and upload.size > suppression_csv.MAX_IMPORT_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)s MB: split it."),
                params={"mb": suppression_csv.MAX_IMPORT_BYTES // (1024 * 1024)},
            )
        data = upload.read(suppression_csv.MAX_IMPORT_BYTES + 1)
        try:
            return suppression_csv.parse_import(data)
        except suppression_csv.ImportFileError as error:
            raise forms.ValidationError(str(error)) from None


class ApplyImportForm(forms.Form):
    payload = forms.CharField(widget=forms.HiddenInput)
    note = forms.CharField(widget=forms.HiddenInput, max_length=MAX_NOTE)

    def __init__(self, *args: Any, user_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.salt = f"{_IMPORT_SALT}:{user_id}"

    def sign(self, rows: list[list[Any]]) -> str:
        return signing.dumps(rows, salt=self.salt, compress=True)

    def clean_payload(self) -> list[list[Any]]:
        try:
            rows = signing.loads(self.cleaned_data["payload"], salt=self.salt, max_age=_IMPORT_MAX_AGE)
        except signing.SignatureExpired:
            raise forms.ValidationError(_("The preview is more than an hour old: upload the file again.")) from None
        except signing.BadSignature:
            raise forms.ValidationError(_("The preview was tampered with: upload the file again.")) from None
        if not isinstance(rows, list):
            raise forms.ValidationError(_("The preview was tampered with: upload the file again."))
        return rows


SUPPRESSION_FIELDS = (
    "address",
    "scope_display",
    "categories",
    "reason_display",
    "status_display",
    "cause_link",
    "cause_full_diagnostic",
    "created_at",
    "created_by",
    "created_via",
    "note",
    "updated_at",
    "lifted_at",
    "lifted_by",
    "lift_note",
    "lifted_by_request",
)


@admin.register(Suppression)
class SuppressionAdmin(BigTableAdmin):
    list_display = [
        "address",
        "scope_display",
        "categories",
        "reason_display",
        "status_display",
        "created_at",
        "created_via",
        "cause_diagnostic",
    ]
    list_display_links = ["created_at"]
    list_filter = [
        "reason",
        ScopeFilter,
        SchoolSlugFilter,
        ActiveFilter,
        ("created_at", admin.DateFieldListFilter),
        ("lifted_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["school"]
    sortable_by = ["created_at"]
    ordering = ["-created_at", "-id"]
    search_fields = ["email"]  # exact and normalized: see BigTableAdmin.get_search_results
    raw_id_fields = ["school", "cause", "created_by", "lifted_by", "lifted_by_request"]
    actions = ["export_selected"]
    fields = SUPPRESSION_FIELDS
    readonly_fields = SUPPRESSION_FIELDS

    class Media:
        css = {"all": ["deliverability/admin.css"]}

    def list_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # The cause's diagnostic, cut, through the join: no per-row query, no 20 kB texts.
        return queryset.annotate(cause_diagnostic_head=Substr("cause__diagnostic", 1, 160))

    # Lifting never deletes, and notes are never edited: no change or delete here.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("deliverability.suppress_manually")

    def has_change_permission(self, request: HttpRequest, obj: Suppression | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Suppression | None = None) -> bool:
        return False

    @admin.display(description=_("address"), ordering="email")
    def address(self, obj: Suppression) -> str:
        return address_link(obj.email)

    @admin.display(description=_("scope"))
    def scope_display(self, obj: Suppression) -> str:
        return str(obj.scope_label)

    @admin.display(description=_("reason"))
    def reason_display(self, obj: Suppression) -> str:
        label = SuppressionReason(obj.reason).label if obj.reason in SuppressionReason.values else obj.reason
        return format_html('<span title="{}">{}</span>', suppression_explanation(obj.reason), label)

    @admin.display(description=_("status"))
    def status_display(self, obj: Suppression) -> str:
        if obj.is_active:
            return format_html('<span class="dlv-badge dlv-suppressed">{}</span>', _("Active"))
        return format_html('<span class="dlv-badge dlv-lifted">{}</span>', _("Lifted"))

    @admin.display(description=_("cause's diagnostic"))
    def cause_diagnostic(self, obj: Suppression) -> str:
        return format_html('<span class="dlv-diagnostic">{}</span>', getattr(obj, "cause_diagnostic_head", "") or "")

    @admin.display(description=_("cause"))
    def cause_link(self, obj: Suppression) -> str:
        if obj.cause_id is None:
            return "—"
        url = reverse("admin:deliverability_bounceevent_change", args=[obj.cause_id])
        return format_html('<a href="{}">{}</a>', url, obj.cause)

    @admin.display(description=_("cause's diagnostic"))
    def cause_full_diagnostic(self, obj: Suppression) -> str:
        return obj.cause.diagnostic if obj.cause is not None else "—"

    # --- views ---------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/lift/", wrap(self.lift_view), name="deliverability_suppression_lift"),
            path("export/", wrap(self.export_view), name="deliverability_suppression_export"),
            path("import/", wrap(self.import_view), name="deliverability_suppression_import"),
            *super().get_urls(),
        ]

    def _page(self, request: HttpRequest, template: str, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            f"admin/deliverability/suppression/{template}",
            {**self.admin_site.each_context(request), "opts": self.opts, **context},
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = {
            **(extra_context or {}),
            "can_import": request.user.has_perm("deliverability.import_suppressions"),
            "can_export": request.user.has_perm("deliverability.export_suppressions"),
            "export_query": request.GET.urlencode(),
        }
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_lift": request.user.has_perm("deliverability.lift_suppression")}
        return super().change_view(request, object_id, form_url, extra_context)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A lead suppresses an address by hand (reason `manual`, a note required)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {"email": request.GET.get("email", "")[:320]}
        form = ManualSuppressionForm(request.POST or None, initial=initial, admin_site=self.admin_site)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                suppression, change = services.suppress(
                    email=data["email"],
                    school=data["school"],
                    categories=data["categories"],
                    reason=SuppressionReason.MANUAL,
                    actor=Actor.of(request.user),
                    note=data["note"],
                    via="manual",
                )
            except ServiceError as error:
                form.add_error(None, str(error))
            else:
                if change is None:
                    self.message_user(
                        request, _("This address was already suppressed in that scope; nothing changed."), messages.INFO
                    )
                else:
                    self.message_user(request, _("%(email)s is suppressed.") % {"email": suppression.email})
                return HttpResponseRedirect(address_url(suppression.email))
        return self._page(request, "suppress.html", title=_("Suppress an address"), form=form, media=form.media)

    def lift_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("deliverability.lift_suppression"):
            raise PermissionDenied
        suppression = get_object_or_404(Suppression.objects.select_related("school", "cause"), pk=object_id)
        form = LiftForm(request.POST or None, initial={"seen": suppression.updated_at.isoformat()})
        if suppression.lifted_at is not None:
            form.is_bound = False
            self.message_user(request, _("This suppression is already lifted."), messages.WARNING)
        elif request.method == "POST" and form.is_valid():
            try:
                services.lift_suppression(
                    suppression=suppression,
                    actor=Actor.of(request.user),
                    note=form.cleaned_data["note"],
                    expected_updated_at=form.cleaned_data["seen"],
                )
            except ServiceError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, _("The suppression of %(email)s is lifted.") % {"email": suppression.email})
                return HttpResponseRedirect(address_url(suppression.email))
        title = _("Lift a suppression")
        return self._page(request, "lift.html", title=title, form=form, suppression=suppression, original=suppression)

    def _export_response(self, request: HttpRequest, queryset: QuerySet[Suppression], description: str) -> Any:
        try:
            suppression_csv.record_export(actor=Actor.of(request.user), description=description)
        except PermissionDenied:
            raise
        response = StreamingHttpResponse(suppression_csv.export_rows(queryset), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="suppressions-{stamp}.csv"'
        return response

    def export_view(self, request: HttpRequest) -> Any:
        """The whole list under the changelist's current filters and search, streamed."""
        if not request.user.has_perm("deliverability.export_suppressions"):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        queryset = changelist.get_queryset(request)
        return self._export_response(request, queryset, request.GET.urlencode() or "all")

    @admin.action(description=_("Export selected suppressions as CSV"), permissions=["export"])
    def export_selected(self, request: HttpRequest, queryset: QuerySet[Suppression]) -> Any:
        return self._export_response(request, queryset, "selected rows")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("deliverability.export_suppressions")

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload → preview (nothing written) → apply (one transaction, audited)."""
        if not request.user.has_perm("deliverability.import_suppressions"):
            raise PermissionDenied
        user_id = int(request.user.pk or 0)
        if request.method == "POST" and "payload" in request.POST:
            apply_form = ApplyImportForm(request.POST, user_id=user_id)
            if apply_form.is_valid():
                try:
                    result = suppression_csv.apply_import(
                        rows=apply_form.cleaned_data["payload"],
                        actor=Actor.of(request.user),
                        note=apply_form.cleaned_data["note"],
                    )
                except (ServiceError, ValueError, TypeError) as error:
                    apply_form.add_error(None, str(error))
                else:
                    self.message_user(
                        request,
                        _("Imported: %(s)d suppressed, %(w)d widened, %(u)d already suppressed.")
                        % {"s": result.suppressed, "w": result.widened, "u": result.unchanged},
                    )
                    return HttpResponseRedirect(reverse("admin:deliverability_suppression_changelist"))
            return self._page(
                request, "import.html", title=_("Import suppressions"), form=ImportForm(), apply_errors=apply_form
            )

        form = ImportForm(request.POST or None, request.FILES or None)
        context: dict[str, Any] = {"title": _("Import suppressions"), "form": form}
        if request.method == "POST" and form.is_valid():
            preview: suppression_csv.ImportPreview = form.cleaned_data["file"]
            apply_form = ApplyImportForm(user_id=user_id)
            apply_form.initial = {"payload": apply_form.sign(preview.payload), "note": form.cleaned_data["note"]}
            context.update(
                title=_("Import suppressions: preview"),
                preview=preview,
                apply_form=apply_form,
                shown_rows=preview.rows[:500],
                counts={
                    "new": preview.count("new"),
                    "widen": preview.count("widen"),
                    "unchanged": preview.count("unchanged"),
                    "invalid": len(preview.invalid),
                },
            )
        return self._page(request, "import.html", **context)
