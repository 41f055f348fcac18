"""The owner portal's list check as a background task (Django's tasks framework): store the
upload, queue the check, and run it in `manage.py db_worker`, keeping the ListCheck row current.

`start_list_check` is the one write the portal makes; `run_list_check` is the task. A run always
ends in "done" or "failed": a file that can't be read fails with the reader's message, anything
else with an empty message (the page says "unexpected error") and the traceback in the log and
in the task's own result.
"""

from __future__ import annotations

import csv
import logging
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.tasks import task
from django.utils import timezone

from deliverability.listcheck.engine import REPORT_ENCODING, Progress, Verdict, check_list
from deliverability.listcheck.reader import ListFileError, ListLayout
from deliverability.listcheck.resolver import DnsResolver, Resolver
from deliverability.models import ListCheck, ListCheckStatus, School

logger = logging.getLogger(__name__)

# The rows the summary page lists first, in file order: the ones that would bounce or that
# the platform refuses (a duplicate, disposable or role address can still be sent to).
WORST_VERDICTS = frozenset({Verdict.INVALID, Verdict.TYPO, Verdict.SUPPRESSED, Verdict.DOMAIN_NOT_FOUND})
WORST_ROWS_LIMIT = 50
UPLOAD_NAME = "upload"
REPORT_NAME = "report.csv"


def make_resolver() -> Resolver:
    """The DNS resolver of a run; tests replace this factory (never the network in tests)."""
    return DnsResolver()


def list_check_path(relative: str) -> Path:
    return Path(settings.LIST_CHECK_DIR) / relative


def start_list_check(*, school: School, uploaded_by: User | None, upload: UploadedFile) -> ListCheck:
    """Store the upload under LIST_CHECK_DIR (a fresh directory; the original name is only
    shown, never used as a path) and queue its check. The row and the queued task commit
    together."""
    folder = uuid.uuid4().hex
    path = list_check_path(f"{folder}/{UPLOAD_NAME}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    with transaction.atomic():
        check = ListCheck.objects.create(
            school=school,
            uploaded_by=uploaded_by,
            original_name=(upload.name or "list.csv")[:255],
            upload_path=f"{folder}/{UPLOAD_NAME}",
            size=upload.size or 0,
        )
        run_list_check.enqueue(check.pk)
    return check


def _finish(check_id: int, **fields: Any) -> None:
    ListCheck.objects.filter(pk=check_id).update(finished_at=timezone.now(), **fields)


def worst_rows(report: Path, layout: ListLayout, *, limit: int = WORST_ROWS_LIMIT) -> list[dict[str, Any]]:
    """The first `limit` rows of the report with a verdict of WORST_VERDICTS. The report ends
    every row with verdict, detail, suggestion and row number (engine.REPORT_COLUMNS)."""
    found: list[dict[str, Any]] = []
    with report.open(encoding=REPORT_ENCODING, newline="") as handle:
        records = csv.reader(handle, delimiter=layout.delimiter or ",")
        next(records, None)  # the header
        for record in records:
            if len(record) < 4 or record[-4] not in WORST_VERDICTS:
                continue
            verdict, detail, suggestion, row = record[-4:]
            email = record[layout.email_column] if layout.email_column < len(record) - 4 else ""
            found.append(
                {"row": int(row), "email": email, "verdict": verdict, "detail": detail, "suggestion": suggestion}
            )
            if len(found) >= limit:
                break
    return found


@task()
def run_list_check(check_id: int) -> None:
    """Check the stored upload of ListCheck `check_id` and record progress and the outcome.
    A check that is no longer queued (the task delivered twice) is left alone."""
    claimed = ListCheck.objects.filter(pk=check_id, status=ListCheckStatus.QUEUED).update(
        status=ListCheckStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return
    check = ListCheck.objects.select_related("school").get(pk=check_id)
    report_relative = str(Path(check.upload_path).parent / REPORT_NAME)

    def progress(p: Progress) -> None:
        ListCheck.objects.filter(pk=check_id).update(progress=p.fraction or 0.0, rows_done=p.rows)

    try:
        report = list_check_path(report_relative)
        with (
            list_check_path(check.upload_path).open("rb") as source,
            report.open("w", encoding=REPORT_ENCODING, newline="") as out,
        ):
            result = check_list(source, school=check.school, resolver=make_resolver(), report=out, progress=progress)
        worst = worst_rows(report, result.layout)
    except ListFileError as error:
        _finish(check_id, status=ListCheckStatus.FAILED, error=str(error))
    except BaseException:
        # Also a worker stopped mid-run (SystemExit): the row must not stay "running".
        logger.exception("List check %s failed", check_id)
        _finish(check_id, status=ListCheckStatus.FAILED, error="")
        raise
    else:
        _finish(
            check_id,
            status=ListCheckStatus.DONE,
            progress=1.0,
            rows_done=result.rows,
            result=result.as_dict(),
            worst_rows=worst,
            report_path=report_relative,
        )
