from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from market.models import Market
from market.services.signing import SigningRefused, market_resign
from market.storage.base import StorageError
from portal.actors import Actor


class Command(BaseCommand):
    help = (
        "Sign again the market.json (and renew the root.json) of writable signed markets"
        " that expire within MARKET_RESIGN_DAYS; the beat task does the same every hour."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="markets (default: every writable one)")
        parser.add_argument("--force", action="store_true", help="sign again even if not due")

    def handle(self, *args: Any, **options: Any) -> None:
        markets = Market.objects.filter(writable=True).order_by("name")
        if options["names"]:
            markets = Market.objects.filter(name__in=options["names"]).order_by("name")
            missing = set(options["names"]) - set(markets.values_list("name", flat=True))
            if missing:
                raise CommandError(f"no such market: {', '.join(sorted(missing))}", returncode=1)
        failed = False
        for market in markets:
            try:
                renewed = market_resign(actor=Actor.cli(), market=market, force=options["force"])
            except (SigningRefused, StorageError) as exc:
                self.stderr.write(f"{market.name}: {exc}")
                failed = True
                continue
            done = " and ".join(renewed) + " signed again" if renewed else "nothing due"
            self.stdout.write(f"{market.name}: {done}")
        if failed:
            raise CommandError("some markets could not be signed again", returncode=1)
