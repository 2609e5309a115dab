from __future__ import annotations

import os
from pathlib import Path
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
        parser.add_argument(
            "--trust-root",
            metavar="ROOT.json",
            help="pin this root.json: every sync then checks market.json's signatures",
        )
        parser.add_argument(
            "--token-env",
            metavar="VAR",
            help="for an http(s) market: the environment variable holding its bearer token "
            "(kept encrypted with the market; a token on the command line would show in ps)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        credentials = self._credentials(options)
        trust_root = None
        if options["trust_root"]:
            try:
                trust_root = Path(options["trust_root"]).read_bytes()
            except OSError as exc:
                raise CommandError(
                    f"cannot read {options['trust_root']}: {exc.strerror}", returncode=1
                ) from None
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
                trust_root=trust_root,
            )
        except (MarketRefused, ValidationError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            if "allow flag" in message:
                message += " (--allow-private-network)"
            raise CommandError(message, returncode=1) from None
        mode = "writable" if market.writable else "read-only"
        if market.trust_root:
            mode += f", root version {market.trust_root['version']} pinned"
        self.stdout.write(f"added market {market.name} ({mode}); first sync queued")

    def _credentials(self, options: dict[str, Any]) -> dict[str, str] | None:
        """Credentials to store (encrypted) with the market, so the worker can sync it
        later without this command's environment."""
        location = options["location"].lower()
        if options["token_env"]:
            if not location.startswith(("http://", "https://")):
                raise CommandError("--token-env applies to http(s) markets", returncode=1)
            token = os.environ.get(options["token_env"], "").strip()
            if not token:
                raise CommandError(
                    f"environment variable {options['token_env']} is not set", returncode=1
                )
            return {"token": token}
        if location.startswith("s3://") and os.environ.get("AWS_ACCESS_KEY_ID"):
            credentials = {
                "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            }
            # Temporary credentials are useless without their session token.
            if os.environ.get("AWS_SESSION_TOKEN"):
                credentials["aws_session_token"] = os.environ["AWS_SESSION_TOKEN"]
            return credentials
        return None
