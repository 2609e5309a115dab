"""`manage.py token_create USER --name N [--days D]`: the token alone on the last line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.actors import Actor
from portal.selectors.accounts import user_by_username
from portal.services.errors import ServiceError
from portal.services.tokens import TOKEN_MAX_DAYS, token_create


class Command(BaseCommand):
    help = (
        "Create an API token for USER and print it once, alone on the last line "
        "(`... | tail -n 1`). Exit status 1 for an unknown user or a name in use."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="username of the token's owner")
        parser.add_argument("--name", required=True, help="a name unique among USER's tokens")
        parser.add_argument(
            "--days", type=int, default=90, help=f"lifetime, 1 to {TOKEN_MAX_DAYS} (default 90)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = user_by_username(options["user"])
        if user is None:
            raise CommandError(f"no active user named {options['user']!r}")
        try:
            issued = token_create(
                actor=Actor.cli(), user=user, name=options["name"], days=options["days"]
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        expires = issued.token.expires_at
        self.stdout.write(
            f"Token {issued.token.name!r} for {user.get_username()}, expires "
            f"{expires:%Y-%m-%d %H:%M} UTC. It is shown once; store it now:"
        )
        self.stdout.write(issued.secret)
