"""The owner portal's pages: parse input, call one service or selector, render.

Every page is scoped to the schools the user owns: a school, contact or request of another
school is a 404, whatever the id (`owner_required` resolves the school from the URL among the
user's own).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from deliverability.conf import policy
from deliverability.models import Contact, ReinstatementRequest, RequestStatus, School
from deliverability.portal import selectors
from deliverability.portal.forms import ReinstatementRequestForm
from deliverability.reinstatement import (
    RequestRefused,
    submit_reinstatement_request,
    withdraw_reinstatement_request,
)
from deliverability.services import AlreadyDecided

PAGE_SIZE = 25

SchoolView = Callable[..., HttpResponse]


def owner_required(view: SchoolView) -> Callable[..., HttpResponse]:
    """Log in first; then `school_slug` in the URL must name one of the user's schools (else
    404), and the view gets the School instead of the slug."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, school_slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
        school = get_object_or_404(selectors.owned_schools(request.user), slug=school_slug)
        return view(request, school, *args, **kwargs)

    return wrapper


def _page_number(request: HttpRequest) -> str:
    return request.GET.get("page", "1")


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """One school: its dashboard. Several: pick one. None (e.g. a support agent): a kind word."""
    schools = list(
        selectors.owned_schools(request.user).annotate(
            pending=Count("reinstatement_requests", filter=Q(reinstatement_requests__status=RequestStatus.PENDING))
        )
    )
    if len(schools) == 1:
        return redirect("portal:dashboard", school_slug=schools[0].slug)
    if not schools:
        return render(request, "portal/no_school.html", status=200)
    return render(request, "portal/schools.html", {"schools": schools})


@owner_required
def school_dashboard(request: HttpRequest, school: School) -> HttpResponse:
    return render(request, "portal/dashboard.html", {"school": school, "dashboard": selectors.dashboard(school)})


@owner_required
def blocked(request: HttpRequest, school: School) -> HttpResponse:
    search = request.GET.get("q", "")[:320]
    page = Paginator(selectors.blocked_contacts(school, search=search), PAGE_SIZE).get_page(_page_number(request))
    return render(
        request,
        "portal/blocked.html",
        {
            "school": school,
            "page": page,
            "rows": selectors.blocked_rows(school, list(page.object_list)),
            "search": search,
        },
    )


@owner_required
def request_reinstatement(request: HttpRequest, school: School, contact_id: int) -> HttpResponse:
    contact = get_object_or_404(Contact, school=school, pk=contact_id)
    row = selectors.blocked_rows(school, [contact])[0]
    form = ReinstatementRequestForm(request.POST or None, complaint=row.complaint)
    if request.method == "POST" and form.is_valid():
        try:
            submit_reinstatement_request(
                school=school,
                email=contact.email,
                what_changed=form.cleaned_data["what_changed"],
                reason=form.cleaned_data["reason"],
                requested_by=request.user,  # type: ignore[arg-type]  # login_required
                language=translation.get_language() or "en",
            )
        except RequestRefused as refused:
            form.add_error(refused.field if refused.field in form.fields else None, str(refused))
        else:
            messages.success(
                request, _("Your request for %(email)s is on its way to support.") % {"email": contact.email}
            )
            return redirect("portal:requests")
        # The refusal may come from a change since the page was read: show the current state.
        row = selectors.blocked_rows(school, [contact])[0]
    return render(
        request,
        "portal/request_form.html",
        {
            "school": school,
            "row": row,
            "form": form,
            "eligibility": row.eligibility,
            "probation_days": policy("PROBATION_DAYS"),
            "block_days": policy("FAILED_REINSTATEMENT_BLOCK_DAYS"),
        },
    )


@login_required
def requests(request: HttpRequest) -> HttpResponse:
    """The requests of the user's schools (one school with ?school=<slug>), newest first."""
    schools = selectors.owned_schools(request.user)
    school: School | None = None
    if request.GET.get("school"):
        school = get_object_or_404(schools, slug=request.GET["school"])
        schools = schools.filter(pk=school.pk)
    page = Paginator(selectors.school_requests(schools), PAGE_SIZE).get_page(_page_number(request))
    return render(
        request,
        "portal/requests.html",
        {"page": page, "school": school, "several_schools": selectors.owned_schools(request.user).count() > 1},
    )


@require_POST
@login_required
def withdraw(request: HttpRequest, request_id: int) -> HttpResponse:
    reinstatement = get_object_or_404(
        ReinstatementRequest.objects.select_related("school"),
        pk=request_id,
        school__in=selectors.owned_schools(request.user),
    )
    try:
        withdraw_reinstatement_request(request=reinstatement, acting_user=request.user)  # type: ignore[arg-type]
    except AlreadyDecided:
        reinstatement.refresh_from_db(fields=["status"])
        messages.error(
            request,
            _("This request is already %(status)s, so it can't be withdrawn. Nothing was changed.")
            % {"status": reinstatement.get_status_display().lower()},
        )
    else:
        messages.success(request, _("Your request for %(email)s was withdrawn.") % {"email": reinstatement.email})
    return redirect("portal:requests")
