"""The build-time step between collecting the files and packing them: render the
``*.tpl`` files, then run the air-gap lint. Shared by source builds (the worker)
and ``manage.py package_build``; plugs into market.package.build_package's
``prepare`` hook."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from builds.lint import Finding, format_violations, scan_files, violations
from builds.tpl import render_tpl_files
from market.package import PackageRefused, SourceFile
from market.package.builder import SourcePreparer


@dataclass
class LintOutcome:
    """Filled in by the preparer: what the lint found, for the record and the log."""

    files: int = 0
    text_bytes: int = 0
    references: int = 0
    rendered: list[str] = field(default_factory=list)
    violations: list[Finding] = field(default_factory=list)

    def report(self) -> list[dict[str, object]]:
        return [f.as_dict() for f in self.violations]


def make_preparer(
    *,
    resources: Mapping[str, str],
    allowed: list[str],
    strict: bool,
    outcome: LintOutcome,
) -> SourcePreparer:
    def prepare(files: list[SourceFile]) -> list[SourceFile]:
        rendered = render_tpl_files(files, resources)
        outcome.rendered = sorted(
            f.path[: -len(".tpl")] for f in files if f.path.endswith(".tpl") and f.path != ".tpl"
        )
        findings = scan_files(rendered)
        outcome.files = len(rendered)
        outcome.text_bytes = sum(len(f.data) for f in rendered)
        outcome.references = len(findings)
        outcome.violations = violations(findings, allowed)
        if strict and outcome.violations:
            raise PackageRefused("host_not_allowed", format_violations(outcome.violations))
        return rendered

    return prepare
