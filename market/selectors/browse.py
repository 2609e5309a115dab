"""Reads behind the market's browser pages.

The catalogue is merged: one entry per app name, listing every market that offers
it. Every function here costs a fixed number of queries, whatever the size of the
catalogue, so that a page's cost does not grow with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Max, OuterRef, QuerySet, Subquery

from market.models import App, AppVersion, Market, SyncJob
from market.selectors.catalogue import catalogue_apps
from market.selectors.installed import Installation
from market.semver import InvalidRange, InvalidVersion, Version, max_satisfying, parse_version
from portal.models import Role
from portal.permissions import is_staff, teams_with_role

CATALOGUE_PAGE_SIZE = 24


@dataclass
class CatalogueEntry:
    """One app name in the merged catalogue. ``app`` is the offer shown on the card
    (the highest latest version; the first market by name on a tie), ``offers`` are
    all the matching offers, ``app`` first."""

    name: str
    app: App
    offers: list[App] = field(default_factory=list)
    # Where the viewer runs this app (market.selectors.installed.installed_mark).
    installed: list[Installation] = field(default_factory=list)

    @property
    def updated(self) -> datetime | None:
        return max((o.updated for o in self.offers if o.updated), default=None)


def _version_key(raw: str) -> tuple[int, Version | None]:
    try:
        return (1, parse_version(raw))
    except InvalidVersion:
        return (0, None)


def sort_versions(versions: list[AppVersion]) -> list[AppVersion]:
    """Highest SemVer precedence first; unparsable versions last, newest first."""
    good = [v for v in versions if _version_key(v.version)[0]]
    bad = [v for v in versions if not _version_key(v.version)[0]]
    good.sort(key=lambda v: parse_version(v.version), reverse=True)
    return good + bad


def catalogue_page(
    *,
    q: str = "",
    category: str = "",
    market: str = "",
    sort: str = "name",
    page: Any = 1,
    per_page: int = CATALOGUE_PAGE_SIZE,
) -> Page[CatalogueEntry]:
    """One page of the merged catalogue. Three queries: the count of app names, the
    page of names, and every matching offer of those names."""
    offers = catalogue_apps(q=q, category=category, market=market).defer("readme", "icon")
    names = offers.order_by().values("name").annotate(last=Max("updated"))
    if sort == "updated":
        names = names.order_by(F("last").desc(nulls_last=True), "name")
    else:
        names = names.order_by("name")
    paginator = Paginator(names, per_page)
    current = paginator.get_page(page)

    page_names = [row["name"] for row in current.object_list]
    by_name: dict[str, list[App]] = {name: [] for name in page_names}
    for app in offers.filter(name__in=page_names).order_by("market__name"):
        by_name[app.name].append(app)
    entries = []
    for name in page_names:
        found = by_name[name]
        if not found:  # removed between the two queries
            continue
        # max() keeps the first of equals: found is in market name order.
        best = max(found, key=lambda a: _version_key(a.latest))
        others = [a for a in found if a.pk != best.pk]
        entries.append(CatalogueEntry(name=name, app=best, offers=[best, *others]))
    return Page(entries, current.number, paginator)  # type: ignore[arg-type]


def publishable_markets(user: Any) -> QuerySet[Market]:
    """Writable markets the user may publish to: staff everywhere, others through an
    operator (or admin) role in one of the market's publishing teams."""
    markets = Market.objects.filter(writable=True).order_by("name")
    if is_staff(user):
        return markets
    if not user.is_authenticated:
        return markets.none()
    teams = teams_with_role(user, Role.OPERATOR).values("pk")
    return markets.filter(publishers__in=teams).distinct()


def app_dependencies(*, app: App, version: AppVersion) -> list[dict[str, Any]]:
    """The dependencies of ``version`` as ``{name, range, app, satisfying}``: ``app`` is
    the same market's offer of that name (None when this market does not carry it),
    ``satisfying`` the newest of its versions in the range, what an install would
    take ("" when none is, or the range is not understood). Two queries."""
    declared = [
        d
        for d in version.manifest.get("dependencies") or []
        if isinstance(d, dict) and isinstance(d.get("name"), str)
    ]
    names = [d["name"] for d in declared]
    present = {a.name: a for a in App.objects.filter(market_id=app.market_id, name__in=names)}
    versions: dict[int, list[str]] = {}
    for app_id, number in AppVersion.objects.filter(app__in=present.values()).values_list(
        "app_id", "version"
    ):
        versions.setdefault(app_id, []).append(number)
    rows = []
    for d in declared:
        found = present.get(d["name"])
        wanted = str(d.get("version") or "*")
        satisfying = ""
        if found is not None:
            try:
                best = max_satisfying(versions.get(found.pk, []), wanted)
            except InvalidRange:
                best = None
            satisfying = str(best) if best is not None else ""
        rows.append({"name": d["name"], "range": wanted, "app": found, "satisfying": satisfying})
    return rows


def market_location(market: Market) -> str:
    """Where the market is, for people: never credentials, never a query string."""
    location = market.location.strip()
    parts = urlsplit(location)
    if parts.scheme in ("http", "https", "s3"):
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        shown = urlunsplit((parts.scheme, host, parts.path, "", ""))
    elif parts.scheme == "file":
        shown = parts.path
    else:
        shown = location
    if market.endpoint_url:
        endpoint = urlsplit(market.endpoint_url)
        host = endpoint.hostname or ""
        if endpoint.port:
            host = f"{host}:{endpoint.port}"
        shown += " at " + urlunsplit((endpoint.scheme, host, endpoint.path, "", ""))
    return shown


def market_list() -> QuerySet[Market]:
    """Every market with its app count and the state of its latest sync job. One query."""
    latest_job = SyncJob.objects.filter(market=OuterRef("pk")).order_by("-created_at", "-pk")
    return (
        Market.objects.annotate(
            app_count=Count("apps"),
            job_state=Subquery(latest_job.values("state")[:1]),
            job_created_at=Subquery(latest_job.values("created_at")[:1]),
        )
        .defer("credentials_encrypted", "last_sync_report")
        .order_by("name")
    )
