from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deployments.services.clusters import MAX_CA_BYTES, cluster_add
from portal.actors import Actor
from portal.services.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Register a Kubernetes cluster: checks the server (/version) and that the token may "
        "create, patch and delete in namespaces; exit 0 added, 1 refused (reason on stderr)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--server", required=True, help="https://host:port of the API server")
        trust = parser.add_mutually_exclusive_group(required=True)
        trust.add_argument("--ca-file", metavar="PEM", help="the CA that signs the API server")
        trust.add_argument("--insecure-skip-tls-verify", action="store_true")
        parser.add_argument(
            "--token-env",
            metavar="VAR",
            required=True,
            help="the environment variable holding the token (kept encrypted; a token on "
            "the command line would show in ps)",
        )
        parser.add_argument("--allow-private-network", action="store_true")
        parser.add_argument("--description", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        token = os.environ.get(options["token_env"], "").strip()
        if not token:
            raise CommandError(
                f"environment variable {options['token_env']} is not set", returncode=1
            )
        try:
            cluster = cluster_add(
                actor=Actor.cli(),
                name=options["name"],
                server=options["server"],
                token=token,
                ca_cert=self._ca(options["ca_file"]),
                insecure_skip_tls_verify=options["insecure_skip_tls_verify"],
                allow_private_network=options["allow_private_network"],
                description=options["description"],
            )
        except ServiceError as exc:
            message = exc.message
            if "allow flag" in message:
                message += " (--allow-private-network)"
            raise CommandError(message, returncode=1) from None
        self.stdout.write(f"added cluster {cluster.name}: Kubernetes {cluster.version}")

    def _ca(self, path: str | None) -> str:
        if not path:
            return ""
        try:
            with Path(path).open("rb") as file:
                data = file.read(MAX_CA_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}", returncode=1) from None
        try:
            return data.decode()
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not a PEM file", returncode=1) from None
