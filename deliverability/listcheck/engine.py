"""The list check itself: one verdict per row, the first that applies in the order of
`Verdict`, computed chunk by chunk so that a list of any length runs in bounded memory, with one
suppression query per chunk and each distinct domain resolved once, many at a time.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import re
import threading
import time
from array import array
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import batched
from typing import IO, Any, BinaryIO

from django.db import connections, models
from django.utils.translation import gettext_lazy as _

from deliverability.addresses import InvalidEmail, normalize_email
from deliverability.listcheck.reader import ListLayout, SourceRow, open_list
from deliverability.listcheck.resolver import DomainStatus, Resolver
from deliverability.listcheck.rules import disposable_domain, role_of, suggest_domain
from deliverability.models import School, Suppression
from deliverability.taxonomy import BlockedCategories, SuppressionReason

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2_000  # rows per suppression query and per progress report
DNS_WORKERS = 64  # lookups in flight at once
# At most this many chunks are read ahead of the oldest one still waiting for DNS, so that
# their lookups run meanwhile (the first chunks of a list bring most of its new domains).
LOOKAHEAD_CHUNKS = 8
DOMAIN_CACHE_LIMIT = 100_000  # distinct domains remembered; the oldest are forgotten past it
UNVERIFIED_DETAIL = "domain not verified"
REPORT_COLUMNS = ("verdict", "detail", "suggestion", "row")
# Excel opens a UTF-8 CSV as UTF-8 only when it starts with a BOM (else as the local ANSI code
# page: Windows-1250 in Poland, and every ą turns into Ä…).
REPORT_ENCODING = "utf-8-sig"


class Verdict(models.TextChoices):
    """In order of precedence: a row gets the first that applies."""

    INVALID = "invalid", _("Invalid address")
    DUPLICATE = "duplicate", _("Duplicate")
    SUPPRESSED = "suppressed", _("Suppressed")
    TYPO = "typo", _("Likely typo")
    DOMAIN_NOT_FOUND = "domain_not_found", _("Domain not found")
    DISPOSABLE = "disposable", _("Disposable address")
    ROLE = "role", _("Role address")
    OK = "ok", _("OK")


_DOMAIN_DETAILS: dict[DomainStatus, str] = {
    DomainStatus.NO_DOMAIN: "the domain {domain} does not exist",
    DomainStatus.NO_MAIL_RECORDS: "the domain {domain} has no mail server (no MX, A or AAAA record)",
    DomainStatus.NULL_MX: "the domain {domain} accepts no mail (null MX, RFC 7505)",
}


@dataclass(frozen=True, slots=True)
class RowResult:
    """The verdict on one row. `email` is the e-mail cell as written, `normalized` the address
    as the platform stores it ("" when invalid); `suggestion` is a corrected address (for a
    typo, or an invalid address that a small repair makes valid)."""

    row: int
    cells: list[str]
    email: str
    normalized: str
    verdict: Verdict
    detail: str = ""
    suggestion: str = ""


@dataclass(frozen=True)
class Progress:
    """Where a run is, reported after every chunk and once at the end."""

    rows: int
    bytes_read: int
    total_bytes: int | None
    counts: Mapping[str, int]
    done: bool = False

    @property
    def fraction(self) -> float | None:
        """0.0 to 1.0 of the file read, or None when its size is unknown (a pipe)."""
        if self.done:
            return 1.0
        if not self.total_bytes:
            return None
        return min(1.0, self.bytes_read / self.total_bytes)


ProgressCallback = Callable[[Progress], None]


@dataclass
class ListCheckResult:
    """The summary of a run: counts per verdict (every verdict, in order of precedence)."""

    name: str
    layout: ListLayout
    rows: int
    counts: dict[str, int]
    blank_rows: int
    dns_checked: bool
    domains_looked_up: int
    domain_statuses: dict[str, int]
    school: str | None
    seconds: float

    @property
    def domains_unverified(self) -> int:
        return self.domain_statuses.get(DomainStatus.UNVERIFIED, 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for a background task to store."""
        return {
            "name": self.name,
            "rows": self.rows,
            "counts": self.counts,
            "blank_rows": self.blank_rows,
            "dns_checked": self.dns_checked,
            "domains_looked_up": self.domains_looked_up,
            "domains_unverified": self.domains_unverified,
            "school": self.school,
            "seconds": round(self.seconds, 3),
            "layout": {
                "encoding": self.layout.encoding,
                "delimiter": self.layout.delimiter,
                "header": list(self.layout.header) if self.layout.header is not None else None,
                "email_column": self.layout.email_column,
            },
        }


# --- duplicates --------------------------------------------------------------------------------


class SeenAddresses:
    """The first row of each address seen so far, in 16 bytes an address (plus a dict of at most
    `recent_limit` recent ones, merged now and then into two sorted arrays of 64-bit hash and row).

    Keys are Python's 64-bit string hash, randomized per process: two different addresses
    share one with a probability of about n²/2⁶⁵ (3·10⁻⁸ for a million addresses).
    """

    def __init__(self, *, recent_limit: int = 65_536) -> None:
        self._recent_limit = recent_limit
        self._recent: dict[int, int] = {}
        self._keys = array("q")
        self._rows = array("q")

    def __len__(self) -> int:
        return len(self._recent) + len(self._keys)

    def first_row(self, email: str, row: int) -> int | None:
        """The row where `email` first appeared; None the first time (then `row` is remembered)."""
        key = hash(email)
        first = self._recent.get(key)
        if first is not None:
            return first
        index = bisect_left(self._keys, key)
        if index < len(self._keys) and self._keys[index] == key:
            return self._rows[index]
        self._recent[key] = row
        if len(self._recent) >= self._recent_limit:
            self._merge()
        return None

    def _merge(self) -> None:
        """Merge the dict into the arrays in place, from the back: each recent key finds its
        place by bisection, and the run of older keys after it moves as one slice (C speed), so
        a merge costs about a microsecond per recent key whatever the arrays' length."""
        recent = sorted(self._recent)
        rows_of = self._recent
        keys, rows = self._keys, self._rows
        end = len(keys)  # keys[:end]: older keys not yet in their final place
        keys.extend(recent)
        rows.extend(map(rows_of.__getitem__, recent))
        write = len(keys)  # keys[write:]: final
        for key in reversed(recent):
            start = bisect_left(keys, key, 0, end)
            if start < end:
                moved = end - start
                keys[write - moved : write] = keys[start:end]
                rows[write - moved : write] = rows[start:end]
                write -= moved
                end = start
            write -= 1
            keys[write] = key
            rows[write] = rows_of[key]
        self._recent = {}


# --- repairs of invalid addresses ----------------------------------------------------------------

_DISPLAY_NAME = re.compile(r".*<([^<>]*)>\s*$", re.DOTALL)
_SPACES_AROUND_AT = re.compile(r"\s*@\s*")
_REPEATED_AT = re.compile(r"@{2,}")
_REPEATED_DOT = re.compile(r"\.{2,}")
_EDGE_JUNK = " \t\"'`<>()[]{},;:."


def repaired_address(raw: str) -> str:
    """A valid address that `raw` (invalid) most likely meant, normalized, or "" when no small
    repair makes one: a display name (Jan <jan@wp.pl>), a mailto: link, quotes or punctuation
    around it, spaces around the @, a doubled @, a comma or a double dot in the domain."""
    candidate = raw.strip()
    if "@" not in candidate or len(candidate) > 1_000:
        return ""
    if match := _DISPLAY_NAME.match(candidate):
        candidate = match.group(1)
    candidate = candidate.strip()
    if candidate.lower().startswith("mailto:"):
        candidate = candidate[7:].partition("?")[0]
    candidate = _SPACES_AROUND_AT.sub("@", candidate.strip(_EDGE_JUNK))
    candidate = _REPEATED_AT.sub("@", candidate)
    local, at, domain = candidate.rpartition("@")
    domain = _REPEATED_DOT.sub(".", domain.replace(",", "."))
    candidate = f"{local}{at}{domain}"
    if candidate == raw.strip():
        return ""
    try:
        normalized = normalize_email(candidate)
    except InvalidEmail:
        return ""
    local, _at, domain = normalized.rpartition("@")
    meant = suggest_domain(domain)
    return f"{local}@{meant}" if meant else normalized


# --- the checker ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    source: SourceRow
    normalized: str = ""
    verdict: Verdict | None = None
    detail: str = ""
    suggestion: str = ""
    lookup: Future[DomainStatus] | None = None

    def decide(self, verdict: Verdict, detail: str = "", suggestion: str = "") -> None:
        self.verdict, self.detail, self.suggestion = verdict, detail, suggestion


def _resolved(items: list[_Pending]) -> bool:
    return all(item.lookup is None or item.lookup.done() for item in items)


def _suppression_detail(reason: str, school_id: int | None, categories: str, since: datetime) -> str:
    label = SuppressionReason(reason).label if reason in SuppressionReason.values else reason
    scope = "platform-wide" if school_id is None else "for this school"
    only = ", bulk and automation only" if categories == BlockedCategories.BULK_AND_AUTOMATION else ""
    return f"{label} ({reason}), {scope}{only}, since {since:%Y-%m-%d}"


class ListChecker:
    """Verdicts for a stream of rows, in input order. `resolver` None: offline (no DNS).

    `check()` emits a chunk as soon as its lookups are done and reads up to LOOKAHEAD_CHUNKS
    chunks ahead meanwhile; suppressions are read with one query per chunk (platform-wide ones, plus the
    school's when `school` is given). Domains looked up and their answers are counted in
    `domains_looked_up` and `domain_statuses`.
    """

    def __init__(
        self,
        *,
        school: School | None = None,
        resolver: Resolver | None = None,
        chunk_size: int = CHUNK_SIZE,
        dns_workers: int = DNS_WORKERS,
        seen: SeenAddresses | None = None,
    ) -> None:
        self.school = school
        self.resolver = resolver
        self.chunk_size = chunk_size
        self.dns_workers = dns_workers
        self.domains_looked_up = 0
        self.domain_statuses: Counter[str] = Counter()
        self._seen = seen if seen is not None else SeenAddresses()
        self._lookups: dict[str, Future[DomainStatus]] = {}
        self._lock = threading.Lock()

    def check(self, rows: Iterable[SourceRow]) -> Generator[RowResult, None, None]:
        executor = None
        if self.resolver is not None:
            executor = ThreadPoolExecutor(max_workers=self.dns_workers, thread_name_prefix="listcheck-dns")
        pending: deque[list[_Pending]] = deque()
        try:
            for chunk in batched(rows, self.chunk_size):
                pending.append(self._prepare(chunk, executor))
                # Emit what is ready; wait for DNS only when too far ahead.
                while pending and (len(pending) > LOOKAHEAD_CHUNKS or _resolved(pending[0])):
                    yield from self._finish(pending.popleft())
            while pending:
                yield from self._finish(pending.popleft())
        finally:
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)

    def _prepare(self, chunk: tuple[SourceRow, ...], executor: ThreadPoolExecutor | None) -> list[_Pending]:
        """Everything but DNS: syntax, duplicates, suppressions, typos; the lookups are started."""
        items = [_Pending(source) for source in chunk]
        for item in items:
            source = item.source
            if source.problem:
                item.decide(Verdict.INVALID, source.problem)
                continue
            try:
                item.normalized = normalize_email(source.email)
            except InvalidEmail as error:
                item.decide(Verdict.INVALID, str(error), repaired_address(source.email))
                continue
            first = self._seen.first_row(item.normalized, source.row)
            if first is not None:
                item.decide(Verdict.DUPLICATE, f"same address as row {first}")
        undecided = [item for item in items if item.verdict is None]
        suppressed = self._suppressions({item.normalized for item in undecided})
        for item in undecided:
            if (detail := suppressed.get(item.normalized)) is not None:
                item.decide(Verdict.SUPPRESSED, detail)
                continue
            local, _at, domain = item.normalized.rpartition("@")
            if (meant := suggest_domain(domain)) is not None:
                item.decide(Verdict.TYPO, f"{domain} looks like a misspelling of {meant}", f"{local}@{meant}")
            elif executor is not None:
                item.lookup = self._lookup(domain, executor)
        return items

    def _finish(self, items: list[_Pending]) -> Iterator[RowResult]:
        for item in items:
            if item.verdict is None:
                local, _at, domain = item.normalized.rpartition("@")
                status = item.lookup.result() if item.lookup is not None else None
                if status is not None and not status.found:
                    item.decide(Verdict.DOMAIN_NOT_FOUND, _DOMAIN_DETAILS[status].format(domain=domain))
                elif (listed := disposable_domain(domain)) is not None:
                    item.decide(Verdict.DISPOSABLE, f"{listed} is a disposable (throwaway) mail service")
                elif (role := role_of(local)) is not None:
                    item.decide(Verdict.ROLE, f"a role address ({role}@), read by several people or nobody")
                else:
                    item.decide(Verdict.OK, UNVERIFIED_DETAIL if status is DomainStatus.UNVERIFIED else "")
            source = item.source
            assert item.verdict is not None
            yield RowResult(
                row=source.row,
                cells=source.cells,
                email=source.email,
                normalized=item.normalized if item.verdict is not Verdict.INVALID else "",
                verdict=item.verdict,
                detail=item.detail,
                suggestion=item.suggestion,
            )

    def _suppressions(self, emails: set[str]) -> dict[str, str]:
        """Address → detail for the active suppressions among `emails` that apply (the
        platform-wide one when both apply), in one query per `chunk_size` addresses."""
        if not emails:
            return {}
        queryset = Suppression.objects.active().for_school(self.school).order_by()
        max_params = connections[queryset.db].features.max_query_params
        batch = min(self.chunk_size, max_params - 10) if max_params else self.chunk_size
        found: dict[str, tuple[int | None, str]] = {}
        for part in batched(sorted(emails), batch):
            rows = queryset.filter(email__in=part)
            for email, school_id, reason, categories, created_at in rows.values_list(
                "email", "school_id", "reason", "categories", "created_at"
            ):
                if email not in found or (school_id is None and found[email][0] is not None):
                    found[email] = (school_id, _suppression_detail(reason, school_id, categories, created_at))
        return {email: detail for email, (_school, detail) in found.items()}

    def _lookup(self, domain: str, executor: ThreadPoolExecutor) -> Future[DomainStatus]:
        future = self._lookups.get(domain)
        if future is None:
            future = executor.submit(self._resolve, domain)
            self._lookups[domain] = future
            self.domains_looked_up += 1
            if len(self._lookups) > DOMAIN_CACHE_LIMIT:
                # Forget the oldest quarter; rows still waiting hold their own futures.
                for old in list(self._lookups)[: DOMAIN_CACHE_LIMIT // 4]:
                    del self._lookups[old]
        return future

    def _resolve(self, domain: str) -> DomainStatus:
        assert self.resolver is not None
        try:
            status = self.resolver.lookup(domain)
        except Exception:
            # A resolver that fails unexpectedly leaves the domain unverified, never "not found".
            logger.exception("DNS lookup of %s failed", domain)
            status = DomainStatus.UNVERIFIED
        with self._lock:
            self.domain_statuses[status] += 1
        return status


# --- the report ----------------------------------------------------------------------------------

# Spreadsheets run a cell that starts with one of these as a formula (CSV injection); such a
# cell gets a leading apostrophe, unless it is a plain number or phone number (+48 600 100 200).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_LIKE = re.compile(r"[+-]?[\d\s.,()/-]*\d[\d\s.,()/-]*")


def _safe_cell(value: str) -> str:
    if value.startswith(_FORMULA_START) and not _NUMBER_LIKE.fullmatch(value):
        return "'" + value
    return value


class ReportWriter:
    """The report as CSV: the original columns (padded to the layout's width; the surplus cells
    of a too-long row joined into its last column, so the added columns stay aligned), then
    verdict, detail, suggestion and row. Same delimiter as the list (a comma for a plain list),
    so a spreadsheet that opened the list opens the report."""

    def __init__(self, out: IO[str], layout: ListLayout) -> None:
        self._delimiter = layout.delimiter or ","
        self._writer = csv.writer(out, delimiter=self._delimiter)
        self._width = layout.width
        if layout.header is not None:
            header = list(layout.header)
        else:
            header = [f"column_{i + 1}" for i in range(layout.width)]
            header[layout.email_column] = "email"
        header += [""] * (self._width - len(header))
        self._writer.writerow([_safe_cell(cell) for cell in header] + list(REPORT_COLUMNS))

    def write(self, result: RowResult) -> None:
        cells = result.cells
        if len(cells) > self._width:
            cells = [*cells[: self._width - 1], self._delimiter.join(cells[self._width - 1 :])]
        elif len(cells) < self._width:
            cells = cells + [""] * (self._width - len(cells))
        self._writer.writerow(
            [_safe_cell(cell) for cell in cells]
            + [result.verdict.value, _safe_cell(result.detail), _safe_cell(result.suggestion), result.row]
        )


# --- one call ------------------------------------------------------------------------------------


def check_list(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    school: School | None = None,
    resolver: Resolver | None = None,
    report: IO[str] | None = None,
    progress: ProgressCallback | None = None,
    column: str | int | None = None,
    chunk_size: int = CHUNK_SIZE,
    dns_workers: int = DNS_WORKERS,
) -> ListCheckResult:
    """Check a list (a path, or a binary file object left open) and return the summary.

    `resolver` None checks offline (no DNS). `report`, a text stream opened with newline=""
    (encoding REPORT_ENCODING for spreadsheets), receives the report row by row. `progress` is
    called after every `chunk_size` rows and once at the end; an exception raised in it stops
    the run (a background task can cancel that way). `column` names the e-mail column (header
    text or 1-based number) when the automatic choice is wrong.

    Raises ListFileError (from the reader) when the file can't be read as a list.
    """
    started = time.monotonic()
    with open_list(source, column=column) as list_file:
        checker = ListChecker(school=school, resolver=resolver, chunk_size=chunk_size, dns_workers=dns_workers)
        writer = ReportWriter(report, list_file.layout) if report is not None else None
        counts = dict.fromkeys(Verdict.values, 0)
        rows = 0
        next_progress = chunk_size
        # closing(): a run stopped by an exception (a cancelling callback) shuts the DNS pool at once.
        with contextlib.closing(checker.check(list_file.rows())) as results:
            for result in results:
                counts[result.verdict] += 1
                rows += 1
                if writer is not None:
                    writer.write(result)
                if progress is not None and rows >= next_progress:
                    next_progress += chunk_size
                    progress(Progress(rows, list_file.bytes_read, list_file.size, dict(counts)))
        if progress is not None:
            progress(Progress(rows, list_file.bytes_read, list_file.size, dict(counts), done=True))
        return ListCheckResult(
            name=list_file.name,
            layout=list_file.layout,
            rows=rows,
            counts=counts,
            blank_rows=list_file.blank_rows,
            dns_checked=resolver is not None,
            domains_looked_up=checker.domains_looked_up,
            domain_statuses=dict(checker.domain_statuses),
            school=school.slug if school is not None else None,
            seconds=time.monotonic() - started,
        )
