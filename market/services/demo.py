"""The demo market: realistic ops apps built from the sources in market/demo/apps.

`demo_market_load` is what `manage.py demo_load` (and so the run command) calls at
every start. It is idempotent: builds are reproducible, so a second run produces
the same archives, finds every version already published, publishes nothing and
writes nothing but a sync.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from market.index import VersionConflict, index_key
from market.models import Market
from market.package import BuiltPackage, PackageRefused, build_package
from market.semver import InvalidVersion, parse_version
from market.services.markets import MarketRefused, market_add, market_init, storage_for_market
from market.services.publish import package_publish
from market.services.publishers import market_publishers_set
from market.services.refresh import market_refresh_now
from market.storage.base import NotFound, StorageError
from portal.actors import Actor
from portal.models import Team
from portal.services.teams import team_create

log = logging.getLogger(__name__)

DEMO_SOURCES = Path(__file__).resolve().parents[1] / "demo" / "apps"
DEMO_MARKET = "demo"
DEMO_DESCRIPTION = "Demo market: ops apps built from market/demo/apps at start."
DEMO_TEAM = "platform-sre"
DEMO_TEAM_DESCRIPTION = "Platform SRE: publishes into the demo market."


@dataclass
class DemoReport:
    market: str
    built: int = 0
    published: list[str] = field(default_factory=list)
    unchanged: int = 0
    apps: int = 0
    refused: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    sync_error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.refused or self.conflicts or self.sync_error)

    def summary(self) -> str:
        parts = [
            f"demo market {self.market}: {self.apps} apps",
            f"{self.built} packages built",
            f"{len(self.published)} published",
            f"{self.unchanged} unchanged",
        ]
        if self.refused:
            parts.append(f"{len(self.refused)} refused ({'; '.join(self.refused)})")
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} conflicts ({'; '.join(self.conflicts)})")
        if self.sync_error:
            parts.append(f"sync failed: {self.sync_error}")
        return ", ".join(parts) + f" in {self.seconds:.1f}s"


def _source_key(folder: Path) -> tuple[str, Any]:
    try:
        return (folder.parent.name, (1, parse_version(folder.name)))
    except InvalidVersion:
        return (folder.parent.name, (0, folder.name))


def demo_sources(root: Path = DEMO_SOURCES) -> list[Path]:
    """Every ``<app>/<version>`` source folder, by app, then oldest version first
    (so that publish times follow version order)."""
    folders = [p for p in root.glob("*/*") if p.is_dir() and (p / "manifest.yaml").is_file()]
    return sorted(folders, key=_source_key)


def _demo_team(actor: Actor) -> Team:
    team = Team.objects.filter(name=DEMO_TEAM).first()
    if team is None:
        team = team_create(actor=actor, name=DEMO_TEAM, description=DEMO_TEAM_DESCRIPTION)
    return team


def demo_market_get_or_create(
    *, actor: Actor, name: str = DEMO_MARKET, team: Team | None = None
) -> Market:
    """The demo market, subscribed once: a local writable market in the data folder,
    published into by `team` (platform-sre by default)."""
    market = Market.objects.filter(name=name).first()
    if market is not None:
        return market
    location = str(Path(settings.MARKETS_DIR) / name)
    # MarketRefused: the folder survived a database reset; subscribe to what is there.
    with contextlib.suppress(MarketRefused):
        market_init(location=location, name=name, description=DEMO_DESCRIPTION)
    market = market_add(
        actor=actor, name=name, location=location, writable=True, description=DEMO_DESCRIPTION
    )
    market_publishers_set(actor=actor, market=market, teams=[team or _demo_team(actor)])
    return market


def _published_digests(market: Market, names: set[str]) -> dict[tuple[str, str], str]:
    """(app, version) -> digest of what the market's indexes already hold."""
    storage = storage_for_market(market)
    found: dict[tuple[str, str], str] = {}
    for name in sorted(names):
        try:
            index = json.loads(storage.get(index_key(name)).data)
        except NotFound:
            continue
        for version, entry in (index.get("versions") or {}).items():
            found[(name, version)] = str(entry.get("digest") or "")
    return found


def demo_market_load(
    *,
    actor: Actor,
    team: Team | None = None,
    sources: Path = DEMO_SOURCES,
    market_name: str = DEMO_MARKET,
) -> DemoReport:
    """Build, publish and sync the demo market.

    1. build every source folder ``<app>/<version>`` into a temporary folder,
       reproducibly (fixed mtime: the same sources give the same digest on every run);
    2. subscribe to the local demo market once (market_init + market_add, writable,
       `team` publishes: platform-sre, created when missing);
    3. publish each archive the market's index does not hold yet, through
       package_publish; a source that fails to build, or that changed without a new
       version (a conflict), is reported and skipped, not fatal;
    4. sync the market and refresh every app's README, docs and icon, so that the
       catalogue is complete on the first page load.
    """
    started = time.monotonic()
    report = DemoReport(market=market_name)
    market = demo_market_get_or_create(actor=actor, name=market_name, team=team)

    with tempfile.TemporaryDirectory(prefix="demo-market-") as tmp:
        built: list[BuiltPackage] = []
        for folder in demo_sources(sources):
            try:
                built.append(build_package(folder, out_dir=Path(tmp), mtime=0))
            except PackageRefused as exc:
                report.refused.append(f"{folder.parent.name}/{folder.name}: {exc.reason}")
        report.built = len(built)

        try:
            held = _published_digests(market, {b.package.name for b in built})
        except StorageError as exc:
            report.sync_error = str(exc)
            report.seconds = time.monotonic() - started
            return report
        for package in built:
            name, version = package.package.name, package.package.version
            if held.get((name, version)) == package.digest:
                report.unchanged += 1
                continue
            try:
                result = package_publish(
                    actor=actor,
                    market=market,
                    data=package.path.read_bytes(),
                    filename=package.path.name,
                )
            except VersionConflict as exc:
                report.conflicts.append(str(exc))
                continue
            except PackageRefused as exc:
                report.refused.append(f"{name} {version}: {exc.reason}")
                continue
            if result.created:
                report.published.append(f"{name}@{version}")
            else:
                report.unchanged += 1

    market.refresh_from_db()
    refreshed = market_refresh_now(market=market)
    report.sync_error = refreshed.error
    report.apps = market.apps.count()
    report.seconds = time.monotonic() - started
    if not report.ok:
        log.warning("%s", report.summary())
    return report
