from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from market.services.markets import MarketRefused, market_init
from market.storage.base import StorageError


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

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            where = market_init(
                location=options["location"],
                name=options["name"],
                description=options["description"],
                endpoint_url=options["endpoint_url"],
                allow_private_network=options["allow_private_network"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages), returncode=1) from None
        except (MarketRefused, StorageError, ValueError) as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(f"created market {options['name']} at {where}")
