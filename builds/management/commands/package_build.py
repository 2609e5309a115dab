from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from builds.pipeline import LintOutcome, make_preparer
from builds.selectors import build_resources
from market.package import PackageRefused, build_package
from portal.services.errors import NotFound


class Command(BaseCommand):
    help = (
        "Build NAME-VERSION.tgz from a package source folder: *.tpl files are rendered "
        "with the resource variables (environment, then --profile), every text file is "
        "checked for hosts the profile does not allow. Prints the archive path, then its "
        "digest. Exit status 1 when the package is refused (with --strict: when a file "
        "names a host the profile does not allow, each listed as FILE:LINE HOST)."
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
        try:
            chosen = build_resources(profile_name=options["profile"])
        except NotFound as exc:
            raise CommandError(exc.message, returncode=1) from None
        outcome = LintOutcome()
        preparer = make_preparer(
            resources=chosen.as_dict(),
            allowed=chosen.allowed_hosts,
            strict=options["strict"],
            outcome=outcome,
        )
        try:
            built = build_package(options["source_dir"], out_dir=options["out"], prepare=preparer)
        except PackageRefused as exc:
            if exc.code == "host_not_allowed":
                for finding in outcome.violations:
                    self.stderr.write(f"{finding.file}:{finding.line} {finding.host}")
            raise CommandError(f"refused ({exc.code}): {exc.reason}", returncode=1) from None
        for finding in outcome.violations:
            self.stderr.write(
                f"warning: {finding.file}:{finding.line} {finding.host} is not allowed"
            )
        self.stdout.write(str(built.path))
        self.stdout.write(built.digest)
