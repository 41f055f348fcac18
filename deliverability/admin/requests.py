"""The support queue of reinstatement requests and the request page (DESIGN.md, workflow steps
3-5): pending first, oldest first; filters by status, school, reason, risk and age. The page
shows the request, the address's timeline, earlier reinstatements of the address and how they
ended, the risk with its reasons and, for a missing domain, a fresh DNS check; Approve and
Reject each need a note and go through the services, which hold every rule.

The list's risk column and filter are the rules of `reinstatement.assess_risk` as SQL (one
query for the page, whatever its length); tests pin both to the same verdicts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from deliverability.addresses import domain_of
from deliverability.admin.scale import SchoolSlugFilter, search_address
from deliverability.admin.timeline import address_url
from deliverability.models import (
    BounceEvent,
    ReinstatementRequest,
    RequestOutcome,
    RequestStatus,
    Suppression,
)
from deliverability.portal import domaincheck
from deliverability.reinstatement import (
    MAJOR_PROVIDER_DOMAINS,
    MAJOR_PROVIDER_MTAS,
    approve_reinstatement_request,
    assess_risk,
    blocking_suppressions,
    reject_reinstatement_request,
)
from deliverability.selectors import address_summary, address_suppressions, address_timeline
from deliverability.services import AlreadyDecided, ServiceError
from deliverability.taxonomy import Action, EventType, Reason, SuppressionReason

MAX_NOTE = 2_000
PREVIOUS_SHOWN = 50

# The risk rules' short names, for the list's column (the page shows assess_risk's sentences).
RISK_FLAGS = {
    "risk_complaint": _("complaint"),
    "risk_major_not_found": _("major provider: no such mailbox"),
    "risk_failed_before": _("failed before"),
    "risk_hard_bounces": _("hard bounces"),
}


def risk_annotations(now: datetime) -> dict[str, Any]:
    """`assess_risk`'s rules as annotations of a ReinstatementRequest queryset: one flag per
    rule and `high_risk`, computed by the database for every row at once."""
    failed = BounceEvent.objects.filter(email=OuterRef("email"), action=Action.FAILED, sender_side=False)
    blocking = Suppression.objects.active().filter(
        Q(school__isnull=True) | Q(school=OuterRef("school")), email=OuterRef("email")
    )
    major = Q(domain__in=MAJOR_PROVIDER_DOMAINS)
    for host in MAJOR_PROVIDER_MTAS:
        major |= Q(remote_mta__iendswith=host)
    not_found = failed.filter(reason=Reason.MAILBOX_NOT_FOUND)
    hard_messages = (
        failed.filter(type=EventType.HARD, record_only=False, occurred_at__gte=now - timedelta(days=90))
        .order_by()
        .values("email")
        .annotate(n=Count("message_key", distinct=True))
        .values("n")
    )
    return {
        "risk_complaint": ExpressionWrapper(
            Exists(blocking.filter(reason=SuppressionReason.COMPLAINT))
            | Exists(failed.filter(type=EventType.COMPLAINT, occurred_at__gte=now - timedelta(days=90))),
            output_field=BooleanField(),
        ),
        # The events' `domain` is the address's domain, so "the address is at a major provider"
        # is "one of its mailbox_not_found events matches `major`" (domain or receiving host).
        "risk_major_not_found": ExpressionWrapper(
            Exists(not_found.filter(occurred_at__gte=now - timedelta(days=30))) & Exists(not_found.filter(major)),
            output_field=BooleanField(),
        ),
        "risk_failed_before": Exists(
            ReinstatementRequest.objects.filter(email=OuterRef("email"), outcome=RequestOutcome.FAILED)
        ),
        "risk_hard_bounces": Coalesce(Subquery(hard_messages, output_field=IntegerField()), Value(0)),
        "high_risk": ExpressionWrapper(
            Q(risk_complaint=True)
            | Q(risk_major_not_found=True)
            | Q(risk_failed_before=True)
            | Q(risk_hard_bounces__gt=1),
            output_field=BooleanField(),
        ),
    }


def _reason_annotation() -> Subquery:
    """The reason of the suppression a request is about: one it lifted, else one that blocks the
    address for the school now (platform-wide first)."""
    return Subquery(
        Suppression.objects.filter(email=OuterRef("email"))
        .filter(
            Q(lifted_by_request=OuterRef("pk"))
            | Q(lifted_at__isnull=True) & (Q(school__isnull=True) | Q(school=OuterRef("school")))
        )
        .order_by(F("school_id").asc(nulls_first=True), "-created_at")
        .values("reason")[:1]
    )


class RiskFilter(admin.SimpleListFilter):
    title = _("risk")
    parameter_name = "risk"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        return [("high", _("High (needs a lead)")), ("normal", _("Normal"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("high", "normal"):
            return queryset.filter(high_risk=self.value() == "high")
        return queryset


class ReasonFilter(admin.SimpleListFilter):
    title = _("suppression reason")
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        return list(SuppressionReason.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in SuppressionReason.values:
            return queryset.filter(suppression_reason=self.value())
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title = _("age")
    parameter_name = "age"
    # (code, label, older than days, younger than days)
    AGES = [
        ("1", _("less than a day"), 0, 1),
        ("1-3", _("1 to 3 days"), 1, 3),
        ("3-7", _("3 to 7 days"), 3, 7),
        ("7", _("more than 7 days"), 7, None),
    ]

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        return [(code, label) for code, label, _older, _younger in self.AGES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        for code, _label, older, younger in self.AGES:
            if self.value() == code:
                queryset = queryset.filter(created_at__lte=now - timedelta(days=older))
                if younger is not None:
                    queryset = queryset.filter(created_at__gt=now - timedelta(days=younger))
        return queryset


class DecisionForm(forms.Form):
    note = forms.CharField(
        label=_("Note for the school owner"),
        max_length=MAX_NOTE,
        help_text=_("Required. The owner reads it in the portal and in the decision e-mail."),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
    )


DECISIONS = {"approve": approve_reinstatement_request, "reject": reject_reinstatement_request}


@admin.register(ReinstatementRequest)
class ReinstatementRequestAdmin(admin.ModelAdmin):
    list_display = [
        "request_title",
        "school",
        "reason_display",
        "what_changed",
        "status_display",
        "risk_display",
        "age_display",
        "requested_by",
        "decided_by",
    ]
    list_display_links = ["request_title"]
    list_filter = ["status", SchoolSlugFilter, ReasonFilter, RiskFilter, AgeFilter, "what_changed", "outcome"]
    list_select_related = ["school", "requested_by", "decided_by"]
    sortable_by = ()
    search_fields = ["email"]  # exact and normalized: see get_search_results
    search_help_text = _("Exact address, e.g. anna@example.com (case and spaces don't matter).")
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False  # one COUNT per page, not two
    list_per_page = 50

    class Media:
        css = {"all": ["deliverability/admin.css"]}

    # --- the queue -------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReinstatementRequest]:
        return (
            super()
            .get_queryset(request)
            .annotate(**risk_annotations(timezone.now()), suppression_reason=_reason_annotation())
        )

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        """Pending first, oldest first (the queue); then the decided ones, latest first."""
        pending = Q(status=RequestStatus.PENDING)
        return [
            Case(When(pending, then=Value(0)), default=Value(1), output_field=IntegerField()).asc(),
            Case(When(pending, then=F("created_at"))).asc(),
            F("updated_at").desc(),
        ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ReinstatementRequest], search_term: str
    ) -> tuple[QuerySet[ReinstatementRequest], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        address = search_address(term)
        return (queryset.filter(email=address) if address else queryset.none()), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ReinstatementRequest | None = None) -> bool:
        return False  # decisions go through the decision form, never the model form

    def has_delete_permission(self, request: HttpRequest, obj: ReinstatementRequest | None = None) -> bool:
        return False

    @admin.display(description=_("request"))
    def request_title(self, obj: ReinstatementRequest) -> str:
        return format_html("#{} <strong>{}</strong>", obj.pk, obj.email)

    @admin.display(description=_("reason"))
    def reason_display(self, obj: ReinstatementRequest) -> str:
        reason = getattr(obj, "suppression_reason", None)
        if not reason:
            return "—"
        return str(SuppressionReason(reason).label) if reason in SuppressionReason.values else reason

    @admin.display(description=_("status"))
    def status_display(self, obj: ReinstatementRequest) -> str:
        outcome = format_html("<br><small>{}</small>", obj.get_outcome_display()) if obj.outcome else ""
        return format_html(
            '<span class="dlv-badge dlv-request-{}">{}</span>{}', obj.status, obj.get_status_display(), outcome
        )

    @admin.display(description=_("risk"))
    def risk_display(self, obj: ReinstatementRequest) -> str:
        if not getattr(obj, "high_risk", False):
            return format_html('<span class="dlv-risk-normal">{}</span>', _("normal"))
        flags = [str(label) for name, label in RISK_FLAGS.items() if name != "risk_hard_bounces" and getattr(obj, name)]
        if getattr(obj, "risk_hard_bounces", 0) > 1:
            flags.append(f"{obj.risk_hard_bounces} {RISK_FLAGS['risk_hard_bounces']}")  # type: ignore[attr-defined]
        return format_html(
            '<span class="dlv-badge dlv-hard dlv-risk-high">{}</span><br><small>{}</small>', _("high"), ", ".join(flags)
        )

    @admin.display(description=_("age"))
    def age_display(self, obj: ReinstatementRequest) -> str:
        return timesince(obj.created_at, depth=1)

    # --- the request page ------------------------------------------------------------------

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> ReinstatementRequest | None:
        """The request with what its page shows, without the list's risk columns (the page
        runs `assess_risk` itself, with reasons)."""
        try:
            return ReinstatementRequest.objects.select_related("school", "requested_by", "decided_by").get(
                pk=int(object_id)
            )
        except (ValueError, ReinstatementRequest.DoesNotExist):
            return None

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(_("No reinstatement request with this id."))
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        form = DecisionForm(request.POST or None)
        if request.method == "POST":
            decide = DECISIONS.get(request.POST.get("decision", ""))
            if decide is None:
                form.add_error(None, _("Choose Approve or Reject."))
            elif form.is_valid():
                try:
                    decide(request=obj, acting_user=request.user, note=form.cleaned_data["note"])  # type: ignore[arg-type]
                except AlreadyDecided:
                    obj.refresh_from_db()
                    self.message_user(request, self._already_decided_message(obj), messages.ERROR)
                    return HttpResponseRedirect(request.path)
                except PermissionDenied as refused:
                    form.add_error(None, str(refused))
                except ServiceError as refused:
                    form.add_error("note", str(refused))
                else:
                    obj.refresh_from_db()
                    self.message_user(
                        request,
                        _("Request #%(id)s for %(email)s: %(status)s.")
                        % {"id": obj.pk, "email": obj.email, "status": obj.get_status_display().lower()},
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:deliverability_reinstatementrequest_changelist"))
        return TemplateResponse(
            request,
            "admin/deliverability/reinstatementrequest/change_form.html",
            {**self.admin_site.each_context(request), **self.request_page_context(request, obj, form)},
        )

    def _already_decided_message(self, obj: ReinstatementRequest) -> str:
        who = obj.decided_by.get_username() if obj.decided_by else ""
        if who:
            return str(
                _("Someone else was quicker: %(who)s already %(status)s this request. Your decision was not saved.")
                % {"who": who, "status": obj.get_status_display().lower()}
            )
        return str(
            _("This request is already %(status)s. Your decision was not saved.")
            % {"status": obj.get_status_display().lower()}
        )

    def request_page_context(
        self, request: HttpRequest, obj: ReinstatementRequest, form: DecisionForm
    ) -> dict[str, Any]:
        user = request.user
        pending = obj.status == RequestStatus.PENDING
        risk = assess_risk(obj)
        blocking = list(blocking_suppressions(email=obj.email, school=obj.school).select_related("cause", "school"))
        lifted = list(obj.lifted_suppressions.select_related("cause", "school").order_by("id"))
        reasons = {s.reason for s in [*blocking, *lifted]}
        dns = None
        if pending and SuppressionReason.DOMAIN_NOT_FOUND in reasons:
            dns = domaincheck.check_domain(domain_of(obj.email))
        suppressions = address_suppressions(obj.email)
        timeline = address_timeline(obj.email, page=_page_number(request), suppressions=suppressions)
        query = request.GET.copy()
        links = {}
        for name, number in (("previous", timeline.number - 1), ("next", timeline.number + 1)):
            query["page"] = str(number)
            links[name] = "?" + query.urlencode()
        can_decide = pending and user.has_perm("deliverability.decide_request") and obj.requested_by_id != user.pk
        return {
            "title": _("Reinstatement request #%(id)s") % {"id": obj.pk},
            "opts": self.opts,
            "original": obj,
            "request_obj": obj,
            "address_url": address_url(obj.email),
            "risk": risk,
            "blocking": blocking,
            "lifted": lifted,
            "dns": dns,
            "previous": list(
                ReinstatementRequest.objects.filter(email=obj.email)
                .exclude(pk=obj.pk)
                .select_related("school", "decided_by")
                .order_by("-created_at", "-pk")[:PREVIOUS_SHOWN]
            ),
            "form": form,
            "can_decide": can_decide,
            "own_request": obj.requested_by_id == user.pk,
            "can_approve": can_decide and (not risk.high or user.has_perm("deliverability.approve_high_risk")),
            # What the timeline and summary includes of the address page need.
            "address": obj.email,
            "summary": address_summary(obj.email, suppressions=suppressions),
            "timeline": timeline,
            "timeline_links": links,
            "can_lift": user.has_perm("deliverability.lift_suppression"),
        }


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1
