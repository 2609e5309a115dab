from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from market.models import Market
from market.services.signing import SigningRefused, market_root_rotate
from market.storage.base import StorageError
from portal.actors import Actor


class Command(BaseCommand):
    help = (
        "Publish a new root.json version of a signed market naming KEYIDs, signed by"
        " the keys of the current one and the new ones; then sign market.json with them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("market")
        parser.add_argument(
            "--key",
            dest="keyids",
            action="append",
            metavar="KEYID",
            help="a key of the new root (repeat; default: the same keys, to renew it)",
        )
        parser.add_argument("--threshold", type=int, default=None)
        parser.add_argument(
            "--retire-old",
            action="store_true",
            help="retire the keys the new root drops (they sign nothing any more)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        market = Market.objects.filter(name=options["market"]).first()
        if market is None:
            raise CommandError(f"no such market: {options['market']}", returncode=1)
        actor = Actor.cli()
        try:
            root = market_root_rotate(
                actor=actor,
                market=market,
                keyids=options["keyids"],
                threshold=options["threshold"],
                retire_dropped=options["retire_old"],
            )
        except (SigningRefused, StorageError) as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(
            f"{market.name}: root.json version {root['version']}, threshold"
            f" {root['threshold']}, keys {', '.join(k[:12] for k in sorted(root['keys']))}"
        )
