"""The owner portal's "Check a list before import" pages (issue 9): upload a list, follow the
background check, read the summary and download the full report. Scoped like every portal
page: another school's check is a 404, whatever the id."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from django import forms
from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from deliverability.listcheck.engine import Verdict
from deliverability.listcheck.reader import ListFileError, open_list
from deliverability.listcheck.tasks import list_check_path, start_list_check
from deliverability.models import ListCheck, School
from deliverability.portal.views import SchoolView, owner_required

# What a spreadsheet saves a contact list as; an .xlsx must be saved as CSV first.
ACCEPTED_SUFFIXES = (".csv", ".txt", ".tsv")
PREVIOUS_CHECKS = 20

# The verdicts' names on the page. The engine's Verdict labels say the same, but only the portal's
# sources feed the Polish catalogue (locale/update.sh), so the portal names them itself.
VERDICT_LABELS = {
    Verdict.INVALID: _("Invalid address"),
    Verdict.DUPLICATE: _("Duplicate"),
    Verdict.SUPPRESSED: _("Suppressed"),
    Verdict.TYPO: _("Likely typo"),
    Verdict.DOMAIN_NOT_FOUND: _("Domain not found"),
    Verdict.DISPOSABLE: _("Disposable address"),
    Verdict.ROLE: _("Role address"),
    Verdict.OK: _("OK"),
}


class ListUploadForm(forms.Form):
    file = forms.FileField(label=_("Contact list"), allow_empty_file=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _(
            "A CSV or text file (.csv, .txt, .tsv) with one contact per row, up to %(size)s. "
            "From Excel, save the sheet as CSV first."
        ) % {"size": filesizeformat(settings.LIST_CHECK_MAX_UPLOAD_BYTES)}

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = settings.LIST_CHECK_MAX_UPLOAD_BYTES
        if not upload.size:
            raise forms.ValidationError(_("The file is empty."))
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is %(size)s; the limit is %(limit)s. Split the list into smaller files.")
                % {"size": filesizeformat(upload.size), "limit": filesizeformat(limit)}
            )
        if not (upload.name or "").lower().endswith(ACCEPTED_SUFFIXES):
            raise forms.ValidationError(
                _("Upload a CSV or text file (.csv, .txt or .tsv). From Excel, save the sheet as CSV first.")
            )
        # The reader decides from the first rows whether this is a list at all (binary, no
        # address column): say so now rather than after the queue.
        try:
            with open_list(upload):
                pass
        except ListFileError as error:
            raise forms.ValidationError(str(error)) from error
        finally:
            upload.seek(0)
        return upload


def _school_check(school: School, check_id: int) -> ListCheck:
    return get_object_or_404(ListCheck, school=school, pk=check_id)


@owner_required
def list_check(request: HttpRequest, school: School) -> HttpResponse:
    """The upload form and the school's previous checks; a valid upload starts a check."""
    form = ListUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        check = start_list_check(school=school, uploaded_by=request.user, upload=form.cleaned_data["file"])  # type: ignore[arg-type]  # owner_required
        return redirect("portal:list_check_detail", school_slug=school.slug, check_id=check.pk)
    checks = ListCheck.objects.filter(school=school).defer("result", "worst_rows")[:PREVIOUS_CHECKS]
    return render(request, "portal/list_check.html", {"school": school, "form": form, "checks": checks})


def _verdict_bars(check: ListCheck) -> list[dict[str, Any]]:
    counts: dict[str, int] = (check.result or {}).get("counts", {})
    rows = max(1, sum(counts.values()))
    return [
        {
            "verdict": verdict.value,
            "label": VERDICT_LABELS[verdict],
            "count": counts.get(verdict.value, 0),
            "percent": round(100 * counts.get(verdict.value, 0) / rows, 1),
        }
        for verdict in Verdict
    ]


@owner_required
def list_check_detail(request: HttpRequest, school: School, check_id: int) -> HttpResponse:
    """Progress while the check waits or runs (the page refreshes itself), then the summary."""
    check = _school_check(school, check_id)
    worst = [{**row, "label": VERDICT_LABELS.get(Verdict(row["verdict"]), row["verdict"])} for row in check.worst_rows]
    return render(
        request,
        "portal/list_check_detail.html",
        {
            "school": school,
            "check": check,
            "percent": round(check.progress * 100),
            "bars": _verdict_bars(check),
            "worst_rows": worst,
        },
    )


@owner_required
def list_check_status(request: HttpRequest, school: School, check_id: int) -> JsonResponse:
    """Where the check is, for scripts polling it."""
    check = _school_check(school, check_id)
    return JsonResponse(
        {
            "status": check.status,
            "progress": check.progress,
            "rows_done": check.rows_done,
            "finished": check.is_finished,
        }
    )


def _report(request: HttpRequest, school: School, check_id: int) -> FileResponse:
    """The full report (every row with its verdict) as CSV, for the spreadsheet."""
    check = _school_check(school, check_id)
    path = list_check_path(check.report_path) if check.report_path else None
    if path is None or not path.is_file():
        raise Http404
    filename = f"{Path(check.original_name).stem or 'list'}-report.csv"
    response = FileResponse(path.open("rb"), as_attachment=True, filename=filename)
    response["Content-Type"] = "text/csv; charset=utf-8"
    return response


# owner_required is typed for HttpResponse views; the streamed FileResponse passes through unchanged.
list_check_report = owner_required(cast(SchoolView, _report))
