"""Incidents of the incident guard: open ones first with their pattern, count and sample
diagnostics; a lead confirms (held events suppress) or dismisses, then rolls back what the
pattern suppressed in the hour before (preview, then one audited action)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Substr
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from deliverability import services
from deliverability.admin.scale import EstimatedCountPaginator
from deliverability.models import BounceEvent, Incident, IncidentStatus
from deliverability.selectors import incident_samples
from deliverability.services import Actor, ServiceError

ROLLBACK_PREVIEW_ROWS = 500


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            ("confirm", _("Confirm: the failures are real; the held events suppress as the policy says")),
            ("dismiss", _("Dismiss: the provider's outage; held events stay recorded only")),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(label=_("Note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def clean_note(self) -> str:
        note: str = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError(_("A note is required."))
        return note


class RollbackForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def clean_note(self) -> str:
        note: str = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError(_("A note is required."))
        return note


INCIDENT_FIELDS = (
    "pattern",
    "status_display",
    "opened_at",
    "window_start",
    "distinct_addresses",
    "held_count",
    "decided_at",
    "decided_by",
    "decision_note",
)


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = [
        "opened_at",
        "pattern",
        "status_display",
        "distinct_addresses",
        "held_count",
        "sample_diagnostic",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["status", "reason"]
    list_select_related = ["decided_by"]
    ordering = ["-opened_at", "-id"]
    sortable_by = ["opened_at"]
    search_fields = ["=domain"]
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = INCIDENT_FIELDS
    readonly_fields = INCIDENT_FIELDS
    change_form_template = "admin/deliverability/incident/change_form.html"

    class Media:
        css = {"all": ["deliverability/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Incident]:
        held = BounceEvent.objects.filter(incident=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                held_events_count=Coalesce(
                    Subquery(
                        held.order_by().values("incident").annotate(n=Count("id")).values("n"),
                        output_field=IntegerField(),
                    ),
                    Value(0),
                ),
                sample=Subquery(held.order_by("-occurred_at", "-id").values(head=Substr("diagnostic", 1, 200))[:1]),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Incident | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Incident | None = None) -> bool:
        return False

    @admin.display(description=_("pattern"))
    def pattern(self, obj: Incident) -> str:
        return format_html("<strong>{}</strong> at <code>{}</code>", obj.get_reason_display(), obj.domain)

    @admin.display(description=_("status"))
    def status_display(self, obj: Incident) -> str:
        return format_html('<span class="dlv-badge dlv-incident-{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description=_("held events"))
    def held_count(self, obj: Incident) -> int:
        return int(getattr(obj, "held_events_count", 0))

    @admin.display(description=_("sample diagnostic"))
    def sample_diagnostic(self, obj: Incident) -> str:
        return format_html('<span class="dlv-diagnostic">{}</span>', getattr(obj, "sample", "") or "")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        incident = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if incident is not None:
            extra_context.update(
                samples=incident_samples(incident),
                can_decide=incident.status == IncidentStatus.OPEN
                and request.user.has_perm("deliverability.decide_incident"),
                can_rollback=incident.status == IncidentStatus.DISMISSED
                and request.user.has_perm("deliverability.rollback_incident"),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/decide/", wrap(self.decide_view), name="deliverability_incident_decide"),
            path("<int:object_id>/rollback/", wrap(self.rollback_view), name="deliverability_incident_rollback"),
            *super().get_urls(),
        ]

    def _page(self, request: HttpRequest, template: str, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            f"admin/deliverability/incident/{template}",
            {**self.admin_site.each_context(request), "opts": self.opts, **context},
        )

    def _change_url(self, incident: Incident) -> str:
        return reverse("admin:deliverability_incident_change", args=[incident.pk])

    def decide_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("deliverability.decide_incident"):
            raise PermissionDenied
        incident = get_object_or_404(Incident, pk=object_id)
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            actor, note = Actor.of(request.user), form.cleaned_data["note"]
            try:
                if form.cleaned_data["decision"] == "confirm":
                    applied = services.confirm_incident(incident=incident, actor=actor, note=note)
                    self.message_user(
                        request, _("Confirmed: %(n)d suppressions applied.") % {"n": len(applied)}, messages.SUCCESS
                    )
                    return HttpResponseRedirect(self._change_url(incident))
                services.dismiss_incident(incident=incident, actor=actor, note=note)
            except ServiceError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, _("Dismissed. Review what to roll back below."), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:deliverability_incident_rollback", args=[incident.pk]))
        return self._page(
            request,
            "decide.html",
            title=_("Decide incident #%(id)s") % {"id": incident.pk},
            incident=incident,
            original=incident,
            form=form,
            samples=incident_samples(incident),
        )

    def rollback_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("deliverability.rollback_incident"):
            raise PermissionDenied
        incident = get_object_or_404(Incident, pk=object_id)
        form = RollbackForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                lifted = services.rollback_incident(
                    incident=incident, actor=Actor.of(request.user), note=form.cleaned_data["note"]
                )
            except ServiceError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, _("Rolled back: %(n)d suppressions lifted.") % {"n": len(lifted)})
                return HttpResponseRedirect(self._change_url(incident))
        preview = services.incident_rollback_preview(incident).select_related("cause", "school")
        rows = list(preview[: ROLLBACK_PREVIEW_ROWS + 1])
        return self._page(
            request,
            "rollback.html",
            title=_("Roll back incident #%(id)s") % {"id": incident.pk},
            incident=incident,
            original=incident,
            form=form,
            preview=rows[:ROLLBACK_PREVIEW_ROWS],
            preview_truncated=len(rows) > ROLLBACK_PREVIEW_ROWS,
            preview_count=preview.count() if len(rows) > ROLLBACK_PREVIEW_ROWS else len(rows),
            is_dismissed=incident.status == IncidentStatus.DISMISSED,
        )
