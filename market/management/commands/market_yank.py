from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from market.selectors.markets import market_get
from market.services.yank import version_unyank, version_yank
from market.storage.base import StorageError
from portal.actors import Actor
from portal.services.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Yank a version of an app in a writable market (SPEC 14): installs refuse it"
        " unless forced. --undo takes the yank back. Exit 0 done, 1 refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("market")
        parser.add_argument("app")
        parser.add_argument("version")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--reason", help="why, shown to everyone who would install it")
        group.add_argument("--undo", action="store_true", help="take the yank back")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            market = market_get(name=options["market"])
        except Http404:
            raise CommandError(f"no such market: {options['market']}", returncode=1) from None
        where = f"{options['app']} {options['version']}"
        try:
            if options["undo"]:
                result = version_unyank(
                    actor=Actor.cli(), market=market, app=options["app"], version=options["version"]
                )
                verb = "unyanked" if result.changed else "was not yanked (unchanged)"
            else:
                result = version_yank(
                    actor=Actor.cli(),
                    market=market,
                    app=options["app"],
                    version=options["version"],
                    reason=options["reason"],
                )
                verb = "yanked" if result.changed else "already yanked so (unchanged)"
        except (ServiceError, StorageError) as exc:
            raise CommandError(f"refused: {exc}", returncode=1) from None
        self.stdout.write(f"{verb} {where} in {market.name}")
