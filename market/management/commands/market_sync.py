from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from market.models import Market
from market.services.sync import SyncRefused, market_sync
from market.storage.base import StorageError


class Command(BaseCommand):
    help = "Sync markets now (all when none named): prints apps added, updated, removed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*")

    def handle(self, *args: Any, **options: Any) -> None:
        markets = Market.objects.order_by("name")
        if options["names"]:
            markets = markets.filter(name__in=options["names"])
            missing = set(options["names"]) - set(markets.values_list("name", flat=True))
            if missing:
                raise CommandError(f"no such market: {', '.join(sorted(missing))}", returncode=1)
        failed = False
        for market in markets:
            try:
                report = market_sync(market=market)
            except (SyncRefused, StorageError, ValueError) as exc:
                self.stderr.write(f"{market.name}: sync failed: {exc}")
                failed = True
                continue
            if report.unchanged:
                self.stdout.write(f"{market.name}: unchanged ({report.requests} requests)")
                continue
            self.stdout.write(
                f"{market.name}: serial {report.serial}: {len(report.added)} added, "
                f"{len(report.updated)} updated, {len(report.removed)} removed, "
                f"{len(report.skipped)} skipped ({report.requests} requests)"
            )
            for label, names in (
                ("added", report.added),
                ("updated", report.updated),
                ("removed", report.removed),
            ):
                for name in names:
                    self.stdout.write(f"  {label} {name}")
            for skipped in report.skipped:
                self.stdout.write(f"  skipped: {skipped['reason']}")
        if failed:
            raise CommandError("some markets failed to sync", returncode=1)
