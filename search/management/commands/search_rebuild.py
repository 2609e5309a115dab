from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from search.client import UNAVAILABLE, search_enabled
from search.services.rebuild import GRACE_SECONDS, RebuildRunning, search_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the search indexes from the database into new indexes and swap the "
        "aliases; searches keep working throughout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--grace",
            type=int,
            default=GRACE_SECONDS,
            help="Seconds an index replaced by an earlier rebuild is kept before deletion.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not search_enabled():
            raise CommandError(
                "ELASTICSEARCH_URL is not set: the database search backend needs no index."
            )
        try:
            report = search_rebuild(grace_seconds=options["grace"], progress=self.stdout.write)
        except RebuildRunning as exc:
            raise CommandError(str(exc)) from None
        except UNAVAILABLE as exc:
            raise CommandError(f"Elasticsearch: {exc}") from None
        for kind, name in report.indexes.items():
            self.stdout.write(f"{kind}: {name}")
        if report.removed:
            self.stdout.write(f"removed old indexes: {', '.join(report.removed)}")
        self.stdout.write(f"{report.documents} documents in {report.seconds:.1f}s")
