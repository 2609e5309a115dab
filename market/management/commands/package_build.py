from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from market.package import PackageRefused, build_package


class Command(BaseCommand):
    help = (
        "Build NAME-VERSION.tgz from a package source folder. Prints the archive path, "
        "then its digest. Exit status 1 when the package is refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source_dir", metavar="SOURCE_DIR", type=Path)
        parser.add_argument(
            "-o",
            "--out",
            dest="out",
            type=Path,
            default=Path("."),
            help="folder to write the archive into (default: the current folder)",
        )
        parser.add_argument("--profile", help="resource profile for *.tpl files")
        parser.add_argument(
            "--strict",
            action="store_true",
            help="fail on hosts the resource profile does not allow",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["profile"] is not None or options["strict"]:
            raise CommandError("resource profiles are not available yet", returncode=1)
        try:
            built = build_package(options["source_dir"], out_dir=options["out"])
        except PackageRefused as exc:
            raise CommandError(f"refused ({exc.code}): {exc.reason}", returncode=1) from None
        self.stdout.write(str(built.path))
        self.stdout.write(built.digest)
