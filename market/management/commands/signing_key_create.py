from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from market.services.signing import signing_key_create
from portal.actors import Actor
from portal.models import Team


class Command(BaseCommand):
    help = "Create an Ed25519 signing key for a team; prints its keyid (SPEC 14)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team")

    def handle(self, *args: Any, **options: Any) -> None:
        team = Team.objects.filter(name=options["team"]).first()
        if team is None:
            raise CommandError(f"no team named {options['team']}", returncode=1)
        key = signing_key_create(actor=Actor.cli(), team=team)
        self.stdout.write(key.keyid)
