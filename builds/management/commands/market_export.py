from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from builds.services.bundles import bundle_export
from market.models import Market
from market.services.fetch import ArchiveMismatch
from market.storage.base import StorageError
from portal.services.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Write an offline bundle: the named apps (APP or APP@RANGE) and their whole "
        "dependency closure, as a format-1 market in one gzip tar. Extract it on the far "
        "side and add it with market_add NAME /path/extracted (or upload it in the UI)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("market", metavar="NAME", help="the market to export from")
        parser.add_argument("apps", metavar="APP[@RANGE]", nargs="+")
        parser.add_argument("-o", "--out", required=True, type=Path, metavar="BUNDLE.tgz")

    def handle(self, *args: Any, **options: Any) -> None:
        market = Market.objects.filter(name=options["market"]).first()
        if market is None:
            raise CommandError(f"no such market: {options['market']}", returncode=1)
        try:
            result = bundle_export(market=market, requests=options["apps"], out=options["out"])
        except ServiceError as exc:
            raise CommandError(exc.message, returncode=1) from None
        except (ArchiveMismatch, StorageError) as exc:
            raise CommandError(f"cannot fetch an archive: {exc}", returncode=1) from None
        for name, version in result.versions:
            self.stdout.write(f"  {name} {version}")
        self.stdout.write(str(result.path))
        self.stdout.write(result.digest)
