"""Daily: reinstatements whose probation ended without a hard bounce become `confirmed`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from deliverability.reinstatement import close_probations


class Command(BaseCommand):
    help = "Confirm reinstatements whose probation ended quietly."

    def handle(self, *args: Any, **options: Any) -> None:
        closed = close_probations()
        self.stdout.write(f"Confirmed {closed} reinstatements whose probation ended.")
