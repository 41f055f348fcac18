"""Retention: delete bounce events older than RETENTION_DAYS, in batches, keeping what
active suppressions, open requests and open incidents still point to."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deliverability.conf import policy
from deliverability.retention import prune_events


class Command(BaseCommand):
    help = "Delete bounce events older than the retention setting (default 2 years)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help="Override RETENTION_DAYS for this run (at least 1).")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else policy("RETENTION_DAYS")
        if days < 1 or options["batch_size"] < 1:
            raise CommandError("--days and --batch-size must be at least 1.")
        result = prune_events(
            older_than=timedelta(days=days), batch_size=options["batch_size"], dry_run=options["dry_run"]
        )
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(
            f"{verb} {result.deleted} bounce events older than {days} days "
            f"(kept {result.kept} that active suppressions, open requests or incidents need)."
        )
