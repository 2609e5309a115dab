"""Incremental sync of a subscribed market into the catalogue (SPEC section 3).

Cost is what changed, not what exists: one conditional GET of market.json when
nothing changed; otherwise only the index.json files whose index_digest moved.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from market.index import (
    MarketDocumentError,
    check_market_entry,
    check_version_entry,
    index_key,
    latest_version,
    parse_index_json,
    parse_market_json,
)
from market.models import App, AppVersion, Market, SyncJob
from market.services.markets import storage_for_market
from market.storage.base import NotFound

log = logging.getLogger(__name__)


class SyncRefused(Exception):
    """The market answered something the catalogue must not accept (e.g. a rolled-back serial)."""


@dataclass
class SyncReport:
    unchanged: bool = False
    serial: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changed_apps(self) -> list[str]:
        return self.added + self.updated


def _when(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        return parse_datetime(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def _store_app(market: Market, name: str, digest: str, index: dict[str, Any]) -> list[str]:
    """Replace one app's catalogue rows with the index's. Returns skipped-version reasons."""
    problems = []
    versions: dict[str, dict[str, Any]] = {}
    for version, entry in index["versions"].items():
        try:
            check_version_entry(name, version, entry)
        except MarketDocumentError as exc:
            problems.append(str(exc))
            continue
        versions[version] = entry
    if not versions:
        raise MarketDocumentError(f"{name}: no valid version in index.json")
    latest = latest_version(list(versions))
    manifest = versions[latest]["manifest"]
    with transaction.atomic():
        app, _ = App.objects.update_or_create(
            market=market,
            name=name,
            defaults={
                "title": str(manifest.get("title") or name)[:200],
                "summary": str(manifest.get("summary") or "")[:200],
                "category": str(manifest.get("category") or "")[:63],
                "keywords": [str(k) for k in manifest.get("keywords") or []][:50],
                "latest": latest,
                "updated": max(
                    (d for d in (_when(v.get("published")) for v in versions.values()) if d),
                    default=None,
                ),
                "index_digest": digest,
            },
        )
        existing = {v.version: v for v in app.versions.all()}
        AppVersion.objects.filter(app=app).exclude(version__in=list(versions)).delete()
        new_rows = []
        for version, entry in versions.items():
            row = existing.get(version)
            if row is not None and row.digest == entry["digest"]:
                continue
            if row is not None:
                row.delete()
            new_rows.append(
                AppVersion(
                    app=app,
                    version=version,
                    archive=entry["archive"],
                    digest=entry["digest"],
                    size=entry["size"],
                    published=_when(entry.get("published")),
                    publisher=str(entry.get("publisher") or "")[:150],
                    manifest=entry["manifest"],
                )
            )
        AppVersion.objects.bulk_create(new_rows)
    return problems


def market_sync(*, market: Market) -> SyncReport:
    """Bring the catalogue of one market up to date.

    1. conditional GET of market.json (If-None-Match: the last ETag) — unchanged: done;
    2. refuse a serial lower than one already seen, keeping the catalogue;
    3. for each app whose index_digest changed: GET its index.json, verify the
       digest, store its versions; a malformed entry is skipped and reported;
    4. remove apps the market no longer lists;
    5. remember the ETag and serial only when all of that is stored, so an
       interrupted sync is simply repeated.
    """
    storage = storage_for_market(market)
    report = SyncReport(serial=market.serial)
    start = storage.request_count

    blob = storage.get_if_changed("market.json", market.etag or None)
    if blob is None:
        report.unchanged = True
        report.requests = storage.request_count - start
        Market.objects.filter(pk=market.pk).update(
            last_synced_at=timezone.now(), last_sync_error="", last_sync_report=report.as_dict()
        )
        return report

    doc = parse_market_json(blob.data)
    if doc["serial"] < market.serial:
        raise SyncRefused(
            f"market.json serial {doc['serial']} is lower than {market.serial} already seen;"
            " keeping the previous catalogue"
        )

    known = dict(market.apps.values_list("name", "index_digest"))
    for name, entry in sorted(doc["apps"].items()):
        try:
            check_market_entry(name, entry)
            if known.get(name) == entry["index_digest"]:
                continue
            index_blob = storage.get(index_key(name))
            index = parse_index_json(name, index_blob.data, entry["index_digest"])
            for problem in _store_app(market, name, entry["index_digest"], index):
                report.skipped.append({"app": name, "reason": problem})
        except (MarketDocumentError, NotFound) as exc:
            report.skipped.append({"app": name, "reason": str(exc) or f"{name}: not found"})
            continue
        (report.updated if name in known else report.added).append(name)

    gone = set(known) - set(doc["apps"])
    if gone:
        App.objects.filter(market=market, name__in=gone).delete()
        report.removed = sorted(gone)

    report.serial = doc["serial"]
    report.requests = storage.request_count - start
    Market.objects.filter(pk=market.pk).update(
        etag=blob.etag,
        serial=doc["serial"],
        last_synced_at=timezone.now(),
        last_sync_error="",
        last_sync_report=report.as_dict(),
    )
    market.etag, market.serial = blob.etag, doc["serial"]
    for skipped in report.skipped:
        log.warning("market %s: skipped %s", market.name, skipped["reason"])
    return report


def sync_job_enqueue(*, market: Market, requested_by: str = "") -> SyncJob:
    """Queue a sync after the current transaction commits. A market with a job
    already queued gets that job back instead of a second one."""
    from market.tasks import market_sync_task

    with transaction.atomic():
        job = (
            SyncJob.objects.select_for_update()
            .filter(market=market, state=SyncJob.State.QUEUED)
            .first()
        )
        if job is not None:
            return job
        job = SyncJob.objects.create(market=market, requested_by=requested_by)
        transaction.on_commit(lambda: market_sync_task.delay(job.pk))
    return job
