"""ingest_bounces PATH... [--school SLUG] [--dry-run] [--json]: record bounce messages from
.eml files, folders of them, Maildirs and mboxes (the logic lives in deliverability.ingest)."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deliverability.ingest import (
    IngestPathError,
    IngestSummary,
    find_message_files,
    ingest_message,
    read_messages,
)
from deliverability.models import School

# Exit status for bad arguments and unreadable paths (argparse's own errors exit 2 as well).
EXIT_BAD_INPUT = 2
_PROGRESS_INTERVAL = 0.1  # seconds between two redraws of the progress line
_LISTED_PROBLEMS = 20  # unparseable / unreadable entries named in the summary


def _plain(text: str) -> str:
    return text


class Command(BaseCommand):
    help = (
        "Record bounce messages (DSNs, complaints, auto-replies) from .eml files, folders of them, Maildir "
        "folders and mbox files. Idempotent: a message already recorded records nothing. Exit status 0 when "
        "the run completed (unparseable messages are part of its report), 2 for a bad argument or a path "
        "that can't be read. With --json, one JSON object per recipient on stdout; the summary and the "
        "progress line go to stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="A message file, an mbox, a folder or a Maildir.")
        parser.add_argument(
            "--school", metavar="SLUG", help="Record every event for this school, whatever the messages say."
        )
        parser.add_argument("--dry-run", action="store_true", help="Parse and report; record nothing.")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print one JSON object per recipient on stdout."
        )

    def handle(
        self,
        *args: Any,
        paths: list[str],
        school: str | None,
        dry_run: bool,
        as_json: bool,
        **options: Any,
    ) -> None:
        forced = None
        if school is not None:
            forced = School.objects.filter(slug=school).first()
            if forced is None:
                raise CommandError(f"No school has the slug {school!r}.", returncode=EXIT_BAD_INPUT)
        try:
            found = find_message_files(paths)
        except IngestPathError as error:
            raise CommandError(str(error), returncode=EXIT_BAD_INPUT) from None

        started = time.monotonic()
        summary = IngestSummary(unreadable=list(found.unreadable))
        progress = _Progress(self, total=len(found.files)) if self.stderr.isatty() else None
        for path in found.files:
            try:
                for label, raw in read_messages(path):
                    lines = ingest_message(raw, file=label, school=forced, dry_run=dry_run)
                    summary.add(lines)
                    if as_json:
                        for line in lines:
                            self.stdout.write(json.dumps(line.as_json()), style_func=_plain)
                    if progress is not None:
                        progress.update(summary)
            except OSError as error:
                summary.unreadable.append((str(path), error.strerror or f"{type(error).__name__}: {error}"))
            summary.files += 1
            if progress is not None:
                progress.update(summary)
        if progress is not None:
            progress.clear()

        self.stderr.write(self._render(summary, seconds=time.monotonic() - started, dry_run=dry_run), style_func=_plain)
        if summary.unreadable:
            raise CommandError(
                f"{len(summary.unreadable)} path(s) could not be read; the rest was read.",
                returncode=EXIT_BAD_INPUT,
            )

    def _render(self, summary: IngestSummary, *, seconds: float, dry_run: bool) -> str:
        out = [
            f"ingest_bounces{' (dry run: nothing recorded)' if dry_run else ''}: "
            f"{summary.messages} messages from {summary.files} files in {seconds:.1f} s",
        ]
        if dry_run:
            recorded = f"would record {summary.would_record}, already recorded {summary.duplicates}"
        else:
            recorded = f"recorded {summary.recorded}, duplicates (already recorded) {summary.duplicates}"
        out.append(f"  recipients: {summary.recipients} ({recorded}; without an address {summary.without_address})")
        if not dry_run:
            held = f"; held by an incident {summary.held}" if summary.held else ""
            out.append(f"  suppressions created or widened: {summary.suppressed}{held}")
        kinds = ", ".join(f"{kind} {count}" for kind, count in summary.kinds.most_common())
        out.append(f"  messages by kind: {kinds or '-'}")
        if summary.by_type_reason:
            out.append("  recipients by type and reason:")
            for (event_type, reason), count in sorted(summary.by_type_reason.items(), key=lambda i: (-i[1], i[0])):
                out.append(f"    {event_type:<11}{reason:<20}{count:>6}")
        out += self._problems("unparseable", summary.unparseable)
        out += self._problems("unreadable", summary.unreadable)
        return "\n".join(out)

    @staticmethod
    def _problems(title: str, problems: list[tuple[str, str]]) -> list[str]:
        out = [f"  {title}: {len(problems)}"]
        out += [f"    {where}: {why}" for where, why in problems[:_LISTED_PROBLEMS]]
        if len(problems) > _LISTED_PROBLEMS:
            out.append(f"    ... and {len(problems) - _LISTED_PROBLEMS} more")
        return out


class _Progress:
    """A one-line progress bar on stderr, redrawn in place with a carriage return."""

    WIDTH = 30

    def __init__(self, command: BaseCommand, *, total: int) -> None:
        self.command, self.total, self.drawn_at = command, total, 0.0

    def update(self, summary: IngestSummary) -> None:
        now = time.monotonic()
        if now - self.drawn_at < _PROGRESS_INTERVAL and summary.files < self.total:
            return
        self.drawn_at = now
        done = summary.files / self.total if self.total else 1.0
        bar = "#" * int(done * self.WIDTH)
        self.command.stderr.write(
            f"\r[{bar:<{self.WIDTH}}] {summary.files}/{self.total} files, {summary.messages} messages, "
            f"{summary.recipients} recipients",
            style_func=_plain,
            ending="",
        )
        self.command.stderr.flush()

    def clear(self) -> None:
        self.command.stderr.write("\r\033[K", style_func=_plain, ending="")
        self.command.stderr.flush()
