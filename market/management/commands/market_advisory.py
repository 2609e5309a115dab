from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from market.index import ADVISORY_SEVERITIES
from market.selectors.markets import market_get
from market.services.yank import advisory_add, advisory_remove
from market.storage.base import StorageError
from portal.actors import Actor
from portal.services.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Publish (or with --remove withdraw) a security advisory of an app in a writable"
        " market (SPEC 14): instances whose version is affected are flagged."
        " Exit 0 done, 1 refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("market")
        parser.add_argument("app")
        parser.add_argument("--remove", metavar="ID", help="withdraw the advisory with this id")
        parser.add_argument("--id", dest="advisory_id", help="e.g. OMSA-2026-001")
        parser.add_argument("--severity", choices=ADVISORY_SEVERITIES)
        parser.add_argument("--affected", help='an npm range, e.g. ">=1.0.0 <1.4.3"')
        parser.add_argument("--fixed", default="", help="the first version that fixes it")
        parser.add_argument("--summary", help="one paragraph, shown on pages and in search")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            market = market_get(name=options["market"])
        except Http404:
            raise CommandError(f"no such market: {options['market']}", returncode=1) from None
        app = options["app"]
        try:
            if options["remove"]:
                advisory_remove(
                    actor=Actor.cli(), market=market, app=app, advisory_id=options["remove"]
                )
                self.stdout.write(f"removed advisory {options['remove']} of {app}")
                return
            needed = ("advisory_id", "severity", "affected", "summary")
            missing = [f"--{n.removeprefix('advisory_')}" for n in needed if options[n] is None]
            if missing:
                raise CommandError(
                    f"an advisory needs {', '.join(missing)} (or --remove ID)", returncode=1
                )
            result = advisory_add(
                actor=Actor.cli(),
                market=market,
                app=app,
                advisory={
                    "id": options["advisory_id"],
                    "severity": options["severity"],
                    "affected": options["affected"],
                    "fixed": options["fixed"],
                    "summary": options["summary"],
                },
            )
        except (ServiceError, StorageError) as exc:
            raise CommandError(f"refused: {exc}", returncode=1) from None
        verb = "published" if result.changed else "already published (unchanged)"
        self.stdout.write(f"{verb} advisory {options['advisory_id']} of {app}")
