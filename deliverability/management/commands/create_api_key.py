"""create_api_key NAME [--school SLUG]: issue an API key and print it, once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deliverability.api.services import issue_api_key
from deliverability.models import School


class Command(BaseCommand):
    help = (
        "Issue an API key: platform-wide, or for one school with --school. The key is printed on stdout "
        "once; only its hash is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="What the key is for, e.g. 'mailer production'.")
        parser.add_argument("--school", metavar="SLUG", help="Scope the key to this school.")

    def handle(self, *args: Any, name: str, school: str | None, **options: Any) -> None:
        scope = None
        if school is not None:
            scope = School.objects.filter(slug=school).first()
            if scope is None:
                raise CommandError(f"No school has the slug {school!r}.")
        try:
            issued = issue_api_key(name=name, school=scope, actor_label="command:create_api_key")
        except ValueError as error:
            raise CommandError(str(error)) from None
        where = f"the school {scope.slug!r}" if scope else "the whole platform"
        self.stderr.write(
            f"API key {issued.api_key.name!r} (prefix {issued.api_key.prefix}) for {where}. "
            "Store it now: it is not shown again."
        )
        self.stdout.write(issued.secret)
