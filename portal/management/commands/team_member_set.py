"""`manage.py team_member_set TEAM USER ROLE`: add a member or change their role."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.actors import Actor
from portal.models import Role
from portal.selectors.accounts import user_by_username
from portal.selectors.teams import team_by_name
from portal.services.errors import ServiceError
from portal.services.teams import membership_set


class Command(BaseCommand):
    help = "Add USER to TEAM with ROLE, or change their role. Exit status 1 on any refusal."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team")
        parser.add_argument("user")
        parser.add_argument("role", choices=Role.values)

    def handle(self, *args: Any, **options: Any) -> None:
        team = team_by_name(options["team"])
        if team is None:
            raise CommandError(f"no team named {options['team']!r}")
        user = user_by_username(options["user"])
        if user is None:
            raise CommandError(f"no active user named {options['user']!r}")
        try:
            membership, created = membership_set(
                actor=Actor.cli(), team=team, user=user, role=options["role"]
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        verb = "added" if created else "set"
        self.stdout.write(f"{verb} {user.get_username()} in {team.name} as {membership.role}")
