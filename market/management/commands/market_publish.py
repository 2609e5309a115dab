from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from market.index import VersionConflict
from market.package import PackageRefused
from market.selectors.markets import market_get
from market.services.publish import package_publish
from market.storage.base import StorageError
from portal.actors import Actor

EXIT_REFUSED = 1
EXIT_CONFLICT = 3


class Command(BaseCommand):
    help = "Publish an archive: exit 0 done, 1 refused (reason on stderr), 3 conflict."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive")
        parser.add_argument("--market", required=True)

    def _fail(self, message: str, code: int) -> None:
        self.stderr.write(message)
        sys.exit(code)

    def handle(self, *args: Any, **options: Any) -> None:
        from django.http import Http404

        path = Path(options["archive"])
        try:
            market = market_get(name=options["market"])
        except Http404:
            return self._fail(f"no such market: {options['market']}", EXIT_REFUSED)
        try:
            data = path.read_bytes()
        except OSError as exc:
            return self._fail(f"cannot read {path}: {exc.strerror}", EXIT_REFUSED)
        try:
            result = package_publish(
                actor=Actor.cli(), market=market, data=data, filename=path.name
            )
        except PackageRefused as exc:
            return self._fail(f"refused: {exc.reason}", EXIT_REFUSED)
        except VersionConflict as exc:
            return self._fail(f"conflict: {exc}", EXIT_CONFLICT)
        except StorageError as exc:
            return self._fail(f"refused: {exc}", EXIT_REFUSED)
        verb = "published" if result.created else "already published (unchanged)"
        self.stdout.write(f"{verb} {result.name} {result.version} {result.digest}")
