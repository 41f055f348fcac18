"""check_list FILE [--school SLUG] [--out REPORT.csv] [--offline]: check a contact list before
its first mailing — one verdict per row, a summary on stdout, the report in --out."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from deliverability.listcheck import (
    REPORT_ENCODING,
    DnsResolver,
    ListCheckResult,
    ListFileError,
    Progress,
    Verdict,
    check_list,
)
from deliverability.models import School


class ProgressBar:
    """A one-line bar redrawn in place at most ten times a second; for a terminal only."""

    WIDTH = 30

    def __init__(self, out: OutputWrapper) -> None:
        self.out = out
        self.started = time.monotonic()
        self.drawn_at = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if not progress.done and now - self.drawn_at < 0.1:
            return
        self.drawn_at = now
        rate = progress.rows / max(now - self.started, 1e-6)
        fraction = progress.fraction
        if fraction is None:
            line = f"{progress.rows:,} rows ({rate:,.0f}/s)"
        else:
            done = int(self.WIDTH * fraction)
            line = f"[{'#' * done}{'.' * (self.WIDTH - done)}] {fraction:4.0%}  {progress.rows:,} rows ({rate:,.0f}/s)"
        self.out.write(f"\r\x1b[K{line}", ending="\n" if progress.done else "")
        self.out.flush()


class Command(BaseCommand):
    help = (
        "Check a contact list (CSV with any delimiter, or one address per line) before importing it: one "
        "verdict per row — invalid, duplicate, suppressed, typo, domain_not_found, disposable, role or ok. "
        "Prints a summary; --out writes the report (the list's columns plus verdict, detail, suggestion, row)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", metavar="FILE", help="The list: a CSV file, or a text file with one address a line."
        )
        parser.add_argument("--school", metavar="SLUG", help="Also check the school's own suppressions.")
        parser.add_argument("--out", metavar="REPORT.csv", help="Write the report here (UTF-8 CSV).")
        parser.add_argument("--offline", action="store_true", help="Skip the DNS checks of the domains.")
        parser.add_argument(
            "--column",
            metavar="NAME_OR_NUMBER",
            help="The e-mail column, by header name or 1-based number, when the automatic choice is wrong.",
        )

    def handle(
        self,
        *args: Any,
        file: str,
        school: str | None,
        out: str | None,
        offline: bool,
        column: str | None,
        **options: Any,
    ) -> None:
        scope = None
        if school is not None:
            scope = School.objects.filter(slug=school).first()
            if scope is None:
                raise CommandError(f"No school has the slug {school!r}.")
        column_choice: str | int | None = int(column) if column is not None and column.isdigit() else column
        report = self._open_report(out, file) if out is not None else None
        progress = ProgressBar(self.stderr) if self.stderr.isatty() else None
        try:
            result = check_list(
                file,
                school=scope,
                resolver=None if offline else DnsResolver(),
                report=report,
                progress=progress,
                column=column_choice,
            )
        except ListFileError as error:
            self._discard(report)
            raise CommandError(str(error)) from None
        except BaseException:
            self._discard(report)
            raise
        if report is not None and out is not None:
            report.close()
            os.replace(report.name, out)
        self.stdout.write(self._summary(result, out))

    def _open_report(self, out: str, file: str) -> IO[str]:
        """A temporary file beside `out`, renamed over it once the run succeeds: a failed run
        leaves no half-written report (and an earlier report stays as it was)."""
        target = Path(out)
        if target.is_dir():
            raise CommandError(f"--out {out} is a directory; give a file name.")
        if target.exists() and Path(file).exists() and target.resolve() == Path(file).resolve():
            raise CommandError("--out would overwrite the list itself; give another file name.")
        directory = target.parent
        if not directory.is_dir():
            raise CommandError(f"--out: the directory {directory} does not exist.")
        try:
            report = tempfile.NamedTemporaryFile(  # noqa: SIM115 - handle() renames or removes it
                "w", encoding=REPORT_ENCODING, newline="", dir=directory, prefix=f".{target.name}.", delete=False
            )
        except OSError as error:
            raise CommandError(f"--out: can't write to {directory}: {error.strerror or error}.") from None
        # The permissions of any file the user creates (a temporary file is private to its owner).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(report.name, 0o666 & ~umask)
        return report

    @staticmethod
    def _discard(report: IO[str] | None) -> None:
        if report is not None:
            report.close()
            with contextlib.suppress(OSError):
                os.unlink(report.name)

    def _summary(self, result: ListCheckResult, out: str | None) -> str:
        layout = result.layout
        lines = [f"Checked {result.rows:,} rows of {result.name} in {result.seconds:.1f} s ({layout.describe()})."]
        if result.blank_rows:
            lines.append(f"Blank rows skipped: {result.blank_rows:,}.")
        if result.rows == 0:
            lines.append(
                "No addresses found: the file has only a header."
                if layout.header
                else "No addresses found: the file is empty."
            )
        scope = (
            f"platform-wide and the school {result.school!r}" if result.school else "platform-wide only (no --school)"
        )
        lines.append(f"Suppressions checked: {scope}.")
        if result.dns_checked:
            lines.append(
                f"DNS: {result.domains_looked_up:,} domains looked up, {result.domains_unverified:,} not verified "
                "(timeout or server failure: their addresses stay ok, with the detail 'domain not verified')."
            )
        else:
            lines.append("DNS: not checked (--offline).")
        lines.append("")
        width = max(len(verdict) for verdict in Verdict.values)
        for verdict in Verdict.values:
            lines.append(f"  {verdict:<{width}}  {result.counts[verdict]:>10,}")
        lines.append(f"  {'total':<{width}}  {result.rows:>10,}")
        lines.append("")
        lines.append(f"Report: {out}" if out else "Add --out REPORT.csv for the verdict of every row.")
        return "\n".join(lines)
