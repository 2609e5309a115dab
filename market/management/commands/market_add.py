from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from market.services.markets import MarketRefused, market_add
from portal.actors import Actor


class Command(BaseCommand):
    help = "Subscribe to a market: a path, file://, s3://bucket/prefix or http(s):// URL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("location")
        parser.add_argument("--writable", action="store_true")
        parser.add_argument("--allow-private-network", action="store_true")
        parser.add_argument("--private", action="store_true", help="serve only with a token")
        parser.add_argument("--endpoint-url", default="")
        parser.add_argument("--description", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        credentials = None
        if options["location"].startswith("s3://") and os.environ.get("AWS_ACCESS_KEY_ID"):
            # Stored encrypted with the market, so the worker can sync it later
            # without the command's environment.
            credentials = {
                "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            }
        try:
            market = market_add(
                actor=Actor.cli(),
                name=options["name"],
                location=options["location"],
                writable=options["writable"],
                allow_private_network=options["allow_private_network"],
                endpoint_url=options["endpoint_url"],
                credentials=credentials,
                description=options["description"],
                is_private=options["private"],
            )
        except (MarketRefused, ValidationError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            if "allow flag" in message:
                message += " (--allow-private-network)"
            raise CommandError(message, returncode=1) from None
        mode = "writable" if market.writable else "read-only"
        self.stdout.write(f"added market {market.name} ({mode}); first sync queued")
