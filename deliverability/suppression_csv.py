"""CSV export and import of suppressions: the file format, its validation (a preview that
changes nothing) and the apply step, which suppresses row by row through `services.suppress`
in one transaction. Both are audited and need the leads' permissions.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet

from deliverability.addresses import InvalidEmail, normalize_email
from deliverability.models import AuditEvent, School, Suppression
from deliverability.services import Actor, ServiceError, _audit, suppress
from deliverability.taxonomy import BlockedCategories, SuppressionReason

EXPORT_COLUMNS = ["email", "school", "categories", "reason", "active", "created_at", "created_via", "lifted_at", "note"]
MAX_IMPORT_BYTES = 2 * 1024 * 1024
# Each row goes through services.suppress (its own audit and change-log rows): about 3 ms a row
# on an idle PostgreSQL, 14 ms on a busy one, so 1,000 rows fit well inside a 30-second request.
# Bigger lists: split them (or, later, a set-based suppress or a background task).
MAX_IMPORT_ROWS = 1_000
MAX_NOTE_LENGTH = 2_000
IMPORT_VIA = "import"
# Spreadsheets run cells that start with these as formulas (CSV injection): free text that
# starts with one gets a leading apostrophe on export.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class SuppressionList:
    """The audit target of an export or an import: the list as a whole."""

    pk = "*"


class ImportFileError(ServiceError):
    """The file as a whole can't be read; `str(error)` says why, for the form."""


# --- export --------------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def _safe_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def export_rows(queryset: QuerySet[Suppression], *, chunk_size: int = 2_000) -> Iterator[str]:
    """CSV lines (header first) for the suppressions of `queryset`, streamed in chunks: a
    million rows never sit in memory. The file can be imported back as it is."""
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    rows = queryset.order_by().values_list(
        "email", "school__slug", "categories", "reason", "lifted_at", "created_at", "created_via", "note"
    )
    for email, slug, categories, reason, lifted_at, created_at, via, note in rows.iterator(chunk_size=chunk_size):
        active = "yes" if lifted_at is None else "no"
        yield writer.writerow(
            [email, slug or "", categories, reason, active, _iso(created_at), via, _iso(lifted_at), _safe_text(note)]
        )


def record_export(*, actor: Actor, description: str) -> AuditEvent:
    """Check the export permission and audit the export before the file is streamed."""
    if actor.user is None or not actor.user.has_perm("deliverability.export_suppressions"):
        raise PermissionDenied("Only a deliverability lead can export suppressions.")
    return _audit(actor=actor, action="suppressions.exported", target=SuppressionList(), after={"filters": description})


# --- import: parse and preview --------------------------------------------------------------


@dataclass
class ImportRow:
    """One data line of an import file, validated. `error` is empty for a valid row, whose
    `outcome` says what applying it would do: "new", "widen" or "unchanged"."""

    line: int
    email: str
    school: School | None = None
    school_slug: str = ""
    categories: str = BlockedCategories.ALL
    reason: str = SuppressionReason.MANUAL
    note: str = ""
    error: str = ""
    outcome: str = ""

    def as_payload(self) -> list[Any]:
        return [self.email, self.school.pk if self.school else None, self.categories, self.reason, self.note]


@dataclass
class ImportPreview:
    rows: list[ImportRow] = field(default_factory=list)

    @property
    def valid(self) -> list[ImportRow]:
        return [r for r in self.rows if not r.error]

    @property
    def invalid(self) -> list[ImportRow]:
        return [r for r in self.rows if r.error]

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.valid if r.outcome == outcome)

    @property
    def payload(self) -> list[list[Any]]:
        """What the apply step needs, to be signed into the confirmation form."""
        return [r.as_payload() for r in self.valid if r.outcome != "unchanged"]


def _decode(data: bytes) -> str:
    if not data:
        raise ImportFileError("The file is empty.")
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB: split it.")
    if b"\x00" in data:
        raise ImportFileError("The file contains NUL bytes: it is not a CSV text file.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"The file is not UTF-8 text (invalid byte at position {error.start}): save it as CSV UTF-8."
        ) from None


def _read(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise ImportFileError("The file has no header line: the first line must name the columns, e.g. email.")
        columns = [cell.strip().lower() for cell in header]
        if "email" not in columns:
            raise ImportFileError("The header has no 'email' column.")
        lines: list[tuple[int, list[str]]] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(lines) >= MAX_IMPORT_ROWS:
                raise ImportFileError(f"The file has more than {MAX_IMPORT_ROWS:,} rows: split it.")
            lines.append((reader.line_num, cells))
    except csv.Error as error:
        raise ImportFileError(f"The file is not valid CSV (line {reader.line_num}): {error}.") from None
    if not lines:
        raise ImportFileError("The file has a header but no rows.")
    return columns, lines


def _cell(columns: Sequence[str], cells: Sequence[str], name: str) -> str:
    try:
        return cells[columns.index(name)].strip()
    except (ValueError, IndexError):
        return ""


def parse_import(data: bytes) -> ImportPreview:
    """Validate an import file (bytes as uploaded) and say what applying it would do; no
    writes. Columns by header: email (required), school (a slug; empty = platform-wide),
    categories (all | bulk_and_automation; default all), reason (a suppression reason;
    default manual), note; a column `active` with "no" (a lifted row of an export) skips the
    row. File-level problems raise ImportFileError; row problems are in `row.error`."""
    columns, lines = _read(_decode(data))
    slugs = {_cell(columns, cells, "school") for _line, cells in lines} - {""}
    schools = {s.slug: s for s in School.objects.filter(slug__in=slugs)} if slugs else {}

    preview = ImportPreview()
    seen: dict[tuple[str, int | None], int] = {}
    for line, cells in lines:
        row = ImportRow(line=line, email=_cell(columns, cells, "email"))
        preview.rows.append(row)
        if _cell(columns, cells, "active").lower() in ("no", "false", "0"):
            row.error = "lifted in the exported file: not imported"
            continue
        try:
            row.email = normalize_email(row.email)
        except InvalidEmail as error:
            row.error = f"invalid address: {error}"
            continue
        row.school_slug = _cell(columns, cells, "school")
        if row.school_slug:
            school = schools.get(row.school_slug)
            if school is None:
                row.error = f"no school with the slug {row.school_slug[:100]!r}"
                continue
            row.school = school
        row.categories = _cell(columns, cells, "categories") or BlockedCategories.ALL
        if row.categories not in BlockedCategories.values:
            row.error = f"categories must be one of {', '.join(BlockedCategories.values)}"
            continue
        row.reason = _cell(columns, cells, "reason") or SuppressionReason.MANUAL
        if row.reason not in SuppressionReason.values:
            row.error = f"reason must be one of {', '.join(SuppressionReason.values)}"
            continue
        row.note = _cell(columns, cells, "note").removeprefix("'")
        if len(row.note) > MAX_NOTE_LENGTH:
            row.error = f"note longer than {MAX_NOTE_LENGTH} characters"
            continue
        key = (row.email, row.school.pk if row.school else None)
        if key in seen:
            row.error = f"same address and scope as line {seen[key]}"
            continue
        seen[key] = line
    _preview_outcomes(preview.valid)
    return preview


def _preview_outcomes(rows: Sequence[ImportRow]) -> None:
    """Fill `outcome` from the active suppressions of the rows' addresses (chunked `IN`)."""
    emails = sorted({r.email for r in rows})
    active: dict[tuple[str, int | None], Suppression] = {}
    for start in range(0, len(emails), 500):
        chunk = emails[start : start + 500]
        for suppression in Suppression.objects.active().filter(email__in=chunk).only("email", "school", "categories"):
            active[(suppression.email, suppression.school_id)] = suppression
    for row in rows:
        existing = active.get((row.email, row.school.pk if row.school else None))
        if existing is None:
            row.outcome = "new"
        elif existing.categories == BlockedCategories.ALL or row.categories == existing.categories:
            row.outcome = "unchanged"
        else:
            row.outcome = "widen"


# --- import: apply -------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    suppressed: int
    widened: int
    unchanged: int


def apply_import(*, rows: Iterable[Sequence[Any]], actor: Actor, note: str) -> ImportResult:
    """Suppress each (email, school_id, categories, reason, note) row through
    `services.suppress`, all in one transaction, and audit the import as a whole. Rows come
    from a preview the same user confirmed; they are checked again (a school deleted since
    fails the whole import, nothing half-written)."""
    if actor.user is None or not actor.user.has_perm("deliverability.import_suppressions"):
        raise PermissionDenied("Only a deliverability lead can import suppressions.")
    if not note.strip():
        raise ServiceError("An import needs a note (where the list comes from).")
    rows = list(rows)
    school_ids = {row[1] for row in rows if row[1] is not None}
    schools = School.objects.in_bulk(list(school_ids))
    if len(schools) != len(school_ids):
        raise ServiceError("A school of the file no longer exists: preview the file again.")
    counts = {"suppressed": 0, "widened": 0, None: 0}
    with transaction.atomic():
        for email, school_id, categories, reason, row_note in rows:
            _suppression, change = suppress(
                email=email,
                school=schools[school_id] if school_id is not None else None,
                categories=categories,
                reason=reason,
                actor=actor,
                note=row_note or note,
                via=IMPORT_VIA,
            )
            counts[change] += 1
        result = ImportResult(suppressed=counts["suppressed"], widened=counts["widened"], unchanged=counts[None])
        _audit(
            actor=actor,
            action="suppressions.imported",
            target=SuppressionList(),
            after={"rows": len(rows), **result.__dict__},
            note=note,
        )
    return result
