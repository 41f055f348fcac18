"""Checking a contact list before the first mailing (issue 9): one verdict per row — invalid,
duplicate, suppressed, typo, domain_not_found, disposable, role or ok — with its detail and, for
typos, the address the writer meant.

The one call is `check_list(source, school=..., resolver=..., report=..., progress=...)`; the
`check_list` management command and the owner portal's background task both use it. A task
reports progress and can cancel by raising from the callback::

    def run_list_check(check_id: int) -> None:
        check = ListCheck.objects.get(pk=check_id)
        def progress(p: Progress) -> None:
            ListCheck.objects.filter(pk=check_id).update(done=p.fraction or 0.0, rows=p.rows)
        with check.upload.open("rb") as source, open(report_path, "w", encoding=REPORT_ENCODING, newline="") as out:
            result = check_list(source, school=check.school, resolver=DnsResolver(), report=out, progress=progress)
        ListCheck.objects.filter(pk=check_id).update(summary=result.as_dict())

A file that can't be read as a list raises `ListFileError`, whose message is for the person who
uploaded it.
"""

from deliverability.listcheck.engine import (
    REPORT_COLUMNS,
    REPORT_ENCODING,
    UNVERIFIED_DETAIL,
    ListChecker,
    ListCheckResult,
    Progress,
    ProgressCallback,
    ReportWriter,
    RowResult,
    SeenAddresses,
    Verdict,
    check_list,
    repaired_address,
)
from deliverability.listcheck.reader import ListFile, ListFileError, ListLayout, SourceRow, open_list
from deliverability.listcheck.resolver import DnsResolver, DomainStatus, Resolver, StaticResolver
from deliverability.listcheck.rules import suggest_domain

__all__ = [
    "REPORT_COLUMNS",
    "REPORT_ENCODING",
    "UNVERIFIED_DETAIL",
    "DnsResolver",
    "DomainStatus",
    "ListCheckResult",
    "ListChecker",
    "ListFile",
    "ListFileError",
    "ListLayout",
    "Progress",
    "ProgressCallback",
    "ReportWriter",
    "Resolver",
    "RowResult",
    "SeenAddresses",
    "SourceRow",
    "StaticResolver",
    "Verdict",
    "check_list",
    "open_list",
    "repaired_address",
    "suggest_domain",
]
