"""`manage.py team_create NAME [--description D]`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.actors import Actor
from portal.services.errors import ServiceError
from portal.services.teams import team_create


class Command(BaseCommand):
    help = "Create a team. Exit status 1 when the name is invalid or taken."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--description", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            team = team_create(
                actor=Actor.cli(), name=options["name"], description=options["description"]
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"created team {team.name}")
