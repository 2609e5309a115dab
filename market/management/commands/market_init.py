from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from market.services.markets import MarketRefused, market_init
from market.storage.base import StorageError
from portal.actors import Actor
from portal.models import Team


class Command(BaseCommand):
    help = "Create an empty market at a location (path, file://, s3://bucket/prefix)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("location")
        parser.add_argument("--name", required=True)
        parser.add_argument("--description", default="")
        parser.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint")
        parser.add_argument(
            "--allow-private-network",
            action="store_true",
            help="allow an endpoint on loopback or a private network (MinIO in the intranet)",
        )
        parser.add_argument(
            "--sign",
            action="store_true",
            help="a signed market (root.json + signed market.json); needs --team",
        )
        parser.add_argument("--team", help="the team whose signing keys sign the market")
        parser.add_argument(
            "--threshold", type=int, default=1, help="signatures needed (default 1)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        team = None
        if options["sign"]:
            if not options["team"]:
                raise CommandError("--sign needs --team TEAM", returncode=1)
            team = Team.objects.filter(name=options["team"]).first()
            if team is None:
                raise CommandError(f"no team named {options['team']}", returncode=1)
        elif options["team"]:
            raise CommandError("--team applies with --sign", returncode=1)
        try:
            where = market_init(
                location=options["location"],
                name=options["name"],
                description=options["description"],
                endpoint_url=options["endpoint_url"],
                allow_private_network=options["allow_private_network"],
                sign_team=team,
                threshold=options["threshold"],
                actor=Actor.cli(),
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages), returncode=1) from None
        except (MarketRefused, StorageError, ValueError) as exc:
            raise CommandError(str(exc), returncode=1) from None
        signed = f", signed by team {team.name}" if team else ""
        self.stdout.write(f"created market {options['name']} at {where}{signed}")
        if team:
            self.stdout.write(
                "give subscribers its root.json (market_add ... --trust-root ROOT.json)"
                " through a channel you trust"
            )
