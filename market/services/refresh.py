"""Bring a market's catalogue up to date in the caller's own process.

The worker does this on its own after every publish (the queued sync, then the
details task). A local market is cheap to read, so the browser's publish form and
the demo loader also do it at once: the catalogue shows the new version, with its
README, docs and icon, on the very next page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from market.index import MarketDocumentError
from market.models import Market
from market.services.details import app_details_refresh
from market.services.sync import SyncRefused, market_sync
from market.storage.base import StorageError

log = logging.getLogger(__name__)


@dataclass
class RefreshResult:
    synced: bool
    error: str = ""
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    details_failed: list[str] = field(default_factory=list)


def market_refresh_now(*, market: Market, apps: list[str] | None = None) -> RefreshResult:
    """Sync ``market``, then refresh the stored details (README, docs, icon) of
    ``apps``, or of every app of the market when None.

    A failure is reported in the result and logged, never raised: the caller's
    write (a publish) has already succeeded, and the queued sync retries.
    """
    try:
        report = market_sync(market=market)
    except (SyncRefused, StorageError, MarketDocumentError) as exc:
        log.warning("immediate sync of market %s failed: %s", market.name, exc)
        return RefreshResult(synced=False, error=str(exc))
    result = RefreshResult(synced=True, added=report.added, updated=report.updated)
    catalogue = market.apps.select_related("market")
    if apps is not None:
        catalogue = catalogue.filter(name__in=apps)
    for app in catalogue:
        if not app_details_refresh(app=app):
            result.details_failed.append(app.name)
    return result
