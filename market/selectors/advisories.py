"""Reads of yanked versions and advisories (SPEC 14): which apply to a version, and
which instances run a yanked or affected one.

The catalogue holds what sync checked: `AppVersion.yanked` (a reason, "" when not
yanked) and `App.advisories` (ranges already known to parse). An instance's flags
come from its market, app and version, read for a whole list with two subqueries
(:func:`with_version_flags`), not a query per row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db.models import Model, OuterRef, QuerySet, Subquery

from market.models import App, AppVersion
from market.semver import InvalidRange, InvalidVersion, Range, parse_range, parse_version

SEVERITY_ORDER = {"critical": 0, "high": 1, "moderate": 2, "low": 3}

M = TypeVar("M", bound=Model)


def advisories_sorted(advisories: Any) -> list[dict[str, str]]:
    """An app's advisories, most severe first (then by id)."""
    if not isinstance(advisories, list):
        return []
    rows = [a for a in advisories if isinstance(a, dict)]
    return sorted(
        rows, key=lambda a: (SEVERITY_ORDER.get(a.get("severity", ""), 9), a.get("id", ""))
    )


def _ranges(advisories: Any) -> list[tuple[dict[str, str], Range]]:
    """Each advisory with its parsed `affected` range; one whose range does not
    parse affects nothing and is left out (sync refuses bad ranges)."""
    if not isinstance(advisories, list):
        return []
    parsed = []
    for advisory in advisories:
        if not isinstance(advisory, dict):
            continue
        try:
            parsed.append((advisory, parse_range(str(advisory.get("affected")))))
        except InvalidRange:
            continue
    return parsed


def _affecting(ranges: list[tuple[dict[str, str], Range]], version: str) -> list[dict[str, str]]:
    if not version or not ranges:
        return []
    try:
        parsed = parse_version(version)
    except InvalidVersion:
        # An instance may record a version no market lists any more.
        return []
    return advisories_sorted([advisory for advisory, range_ in ranges if range_.matches(parsed)])


def advisories_affecting(*, advisories: Any, version: str) -> list[dict[str, str]]:
    """The advisories whose `affected` range holds `version`, most severe first.
    A version or range that does not parse affects nothing."""
    return _affecting(_ranges(advisories), version)


def with_version_flags(
    rows: QuerySet[M], *, market: str = "market", app: str = "app_name", version: str = "version"
) -> QuerySet[M]:
    """Rows (instances, or anything naming a market, app and version) annotated with
    `version_yanked` (the reason, or None) and `app_advisories` (the app's list):
    two subqueries. Read them through :func:`version_flags`."""
    yanked = AppVersion.objects.filter(
        app__market=OuterRef(market), app__name=OuterRef(app), version=OuterRef(version)
    ).values("yanked")[:1]
    advisories = App.objects.filter(market=OuterRef(market), name=OuterRef(app)).values(
        "advisories"
    )[:1]
    return rows.annotate(version_yanked=Subquery(yanked), app_advisories=Subquery(advisories))


@dataclass(frozen=True)
class VersionFlags:
    yanked: str = ""  # the reason; "" when not yanked
    advisories: list[dict[str, str]] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.yanked or self.advisories)

    @property
    def worst_severity(self) -> str:
        return self.advisories[0]["severity"] if self.advisories else ""

    @property
    def tone(self) -> str:
        """The notice's tone: danger for a yank or a high/critical advisory."""
        if self.yanked or self.worst_severity in ("critical", "high"):
            return "danger"
        return "warning"

    def as_dict(self) -> dict[str, Any]:
        return {"yanked": self.yanked, "advisories": self.advisories}


def version_flags(row: Any) -> VersionFlags:
    """The flags of one instance-like row (market_id, app_name, version): from the
    annotations of :func:`with_version_flags`. A row read without them (a model
    instance fetched elsewhere) is annotated by one query of the same two subqueries,
    so there is one reading of a version's flags, not a second per-row one."""
    if not hasattr(row, "version_yanked"):
        annotated = (
            with_version_flags(type(row)._default_manager.filter(pk=row.pk))
            .values("version_yanked", "app_advisories")
            .first()
            or {}
        )
        yanked, advisories = annotated.get("version_yanked"), annotated.get("app_advisories")
    else:
        yanked, advisories = row.version_yanked, row.app_advisories
    return VersionFlags(
        yanked=yanked or "",
        advisories=advisories_affecting(advisories=advisories or [], version=row.version),
    )


def app_versions_flags(
    *, versions: Iterable[AppVersion], advisories: Any
) -> dict[str, VersionFlags]:
    """The flags of each of an app's versions, by version string: every advisory's
    range parsed once for the lot, not once per version."""
    ranges = _ranges(advisories)
    return {
        row.version: VersionFlags(yanked=row.yanked, advisories=_affecting(ranges, row.version))
        for row in versions
    }


def app_flags(advisories: Any) -> VersionFlags:
    """An app's own flags (its search document and hit): every advisory it has,
    most severe first, whichever versions they affect; an app is never yanked."""
    return VersionFlags(advisories=advisories_sorted(advisories))
