from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from deployments.selectors.clusters import cluster_list
from deployments.services.clusters import cluster_check


class Command(BaseCommand):
    help = "List the Kubernetes clusters and their last check (--check: check them now)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="check every cluster first")

    def handle(self, *args: Any, **options: Any) -> None:
        clusters = list(cluster_list())
        if options["check"]:
            checked = (cluster_check(cluster_id=cluster.pk) for cluster in clusters)
            clusters = [cluster for cluster in checked if cluster is not None]
        if not clusters:
            self.stdout.write("no clusters")
            return
        rows = [("NAME", "STATE", "VERSION", "CHECKED", "SERVER")]
        for cluster in clusters:
            checked_at = (
                cluster.checked_at.strftime("%Y-%m-%d %H:%M:%S") if cluster.checked_at else "never"
            )
            rows.append(
                (cluster.name, cluster.state, cluster.version or "-", checked_at, cluster.server)
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
                + "  "
                + row[-1]
            )
        for cluster in clusters:
            if cluster.last_error:
                self.stdout.write(f"{cluster.name}: {cluster.last_error}")
