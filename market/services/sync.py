"""Incremental sync of a subscribed market into the catalogue (SPEC section 3).

Cost is what changed, not what exists: one conditional GET of market.json when
nothing changed; otherwise only the index.json files whose index_digest moved.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
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
    sha256_hex,
)
from market.models import App, AppVersion, Market, SyncJob
from market.services.markets import storage_for_market
from market.storage.base import NotFound
from portal.queue import enqueue_on_commit
from search.services.indexing import index_later

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


@dataclass
class _CheckedIndex:
    """One app's index.json, fetched and checked, ready to store."""

    name: str
    digest: str
    versions: dict[str, dict[str, Any]]  # the valid entries only
    problems: list[str]  # why the other entries were skipped

    def app_fields(self) -> dict[str, Any]:
        latest = latest_version(list(self.versions))
        manifest = self.versions[latest]["manifest"]
        return {
            "title": str(manifest.get("title") or self.name)[:200],
            "summary": str(manifest.get("summary") or "")[:200],
            "category": str(manifest.get("category") or "")[:63],
            "keywords": [str(k) for k in manifest.get("keywords") or []][:50],
            "latest": latest,
            "updated": max(
                (d for d in (_when(v.get("published")) for v in self.versions.values()) if d),
                default=None,
            ),
            "index_digest": self.digest,
        }


_Fetched = _CheckedIndex | MarketDocumentError | NotFound

APP_FIELDS = ("title", "summary", "category", "keywords", "latest", "updated", "index_digest")
# Apps fetched, then written in one transaction: bounds memory and transaction size,
# and costs a fixed number of queries per chunk instead of several per app.
SYNC_CHUNK = 250
# index.json downloads in flight at once: a cold sync of a distant market waits on
# round trips, not on bandwidth. Below the HTTP and S3 connection pools' 10.
SYNC_FETCH_THREADS = 8


def _check_index(name: str, digest: str, index: dict[str, Any]) -> _CheckedIndex:
    """Keep the valid version entries; raise MarketDocumentError when none is."""
    checked = _CheckedIndex(name=name, digest=digest, versions={}, problems=[])
    for version, entry in index["versions"].items():
        try:
            check_version_entry(name, version, entry)
        except MarketDocumentError as exc:
            checked.problems.append(str(exc))
            continue
        checked.versions[version] = entry
    if not checked.versions:
        raise MarketDocumentError(f"{name}: no valid version in index.json")
    return checked


def _store_apps(market: Market, indexes: list[_CheckedIndex]) -> None:
    """Replace these apps' catalogue rows with their indexes, in one transaction.

    1. lock the market row, so two syncs of one market write one after the other;
    2. update the apps that exist, create the others (other App fields, such as the
       details read from archives, are kept);
    3. delete the versions an index no longer lists or lists with another digest,
       insert the new ones; unchanged versions are not touched.
    """
    if not indexes:
        return
    with transaction.atomic():
        Market.objects.select_for_update().filter(pk=market.pk).values_list("pk").first()
        existing = {
            app.name: app
            for app in App.objects.filter(
                market=market, name__in=[i.name for i in indexes]
            ).order_by()
        }
        created: list[App] = []
        for index in indexes:
            fields = index.app_fields()
            app = existing.get(index.name)
            if app is None:
                created.append(App(market=market, name=index.name, **fields))
            else:
                for field_name, value in fields.items():
                    setattr(app, field_name, value)
        if existing:
            App.objects.bulk_update(list(existing.values()), APP_FIELDS)
        App.objects.bulk_create(created)
        if any(app.pk is None for app in created):  # a database without RETURNING
            ids = dict(
                App.objects.filter(market=market, name__in=[a.name for a in created])
                .order_by()
                .values_list("name", "pk")
            )
            for app in created:
                app.pk = ids[app.name]
        apps = {**existing, **{app.name: app for app in created}}

        stored: dict[int, dict[str, tuple[int, str]]] = {}
        if existing:
            for pk, app_id, version, digest in (
                AppVersion.objects.filter(app_id__in=[a.pk for a in existing.values()])
                .order_by()
                .values_list("pk", "app_id", "version", "digest")
            ):
                stored.setdefault(app_id, {})[version] = (pk, digest)
        stale: list[int] = []
        new_rows: list[AppVersion] = []
        for index in indexes:
            app = apps[index.name]
            have = stored.get(app.pk, {})
            for version, (pk, digest) in have.items():
                entry = index.versions.get(version)
                if entry is None or entry["digest"] != digest:
                    stale.append(pk)
            for version, entry in index.versions.items():
                if version in have and have[version][1] == entry["digest"]:
                    continue
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
        for start in range(0, len(stale), 500):
            AppVersion.objects.filter(pk__in=stale[start : start + 500]).delete()
        AppVersion.objects.bulk_create(new_rows, batch_size=500)
        index_later("app", [app.pk for app in apps.values()])


def catalogue_store_index(*, market: Market, name: str, index_bytes: bytes) -> None:
    """Store one app's index.json, as this portal just wrote it, in the catalogue:
    what a sync would store for it, without waiting for one (publish)."""
    digest = sha256_hex(index_bytes)
    _store_apps(market, [_check_index(name, digest, parse_index_json(name, index_bytes, digest))])


def market_sync(*, market: Market) -> SyncReport:
    """Bring the catalogue of one market up to date.

    1. conditional GET of market.json (If-None-Match: the last ETag) — unchanged: done;
    2. refuse a serial lower than one already seen, keeping the catalogue;
    3. for each app whose index_digest changed: GET its index.json (several at
       once), verify the digest and entries (a malformed entry is skipped and
       reported); store the apps a chunk at a time, each chunk in one transaction;
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

    known = dict(market.apps.order_by().values_list("name", "index_digest"))

    def fetch(name: str, digest: str) -> _Fetched:
        # Runs in a pool thread: storage and pure checks only, no database.
        try:
            blob = storage.get(index_key(name))
            return _check_index(name, digest, parse_index_json(name, blob.data, digest))
        except (MarketDocumentError, NotFound) as exc:
            return exc

    # (name, outcome) in name order, so the report lists apps as the market does.
    outcomes: list[tuple[str, Future[_Fetched] | Exception]] = []

    def store_outcomes(count: int) -> None:
        """Wait for the first `count` outcomes and store them."""
        batch = outcomes[:count]
        del outcomes[:count]
        checked: list[_CheckedIndex] = []
        for name, outcome in batch:
            result = outcome.result() if isinstance(outcome, Future) else outcome
            if isinstance(result, _CheckedIndex):
                report.skipped.extend({"app": name, "reason": why} for why in result.problems)
                checked.append(result)
            else:
                report.skipped.append({"app": name, "reason": str(result) or f"{name}: not found"})
        _store_apps(market, checked)
        for index in checked:
            (report.updated if index.name in known else report.added).append(index.name)

    pool = ThreadPoolExecutor(max_workers=SYNC_FETCH_THREADS, thread_name_prefix="market-sync")
    try:
        for name, entry in sorted(doc["apps"].items()):
            try:
                check_market_entry(name, entry)
            except MarketDocumentError as exc:
                outcomes.append((name, exc))
                continue
            if known.get(name) != entry["index_digest"]:
                outcomes.append((name, pool.submit(fetch, name, entry["index_digest"])))
                # One chunk ahead: the next downloads run while this chunk is stored.
                if len(outcomes) >= 2 * SYNC_CHUNK:
                    store_outcomes(SYNC_CHUNK)
        while outcomes:
            store_outcomes(SYNC_CHUNK)
    finally:
        # A failure stops the sync: drop the downloads not started yet.
        pool.shutdown(wait=True, cancel_futures=True)

    gone = set(known) - set(doc["apps"])
    if gone:
        with transaction.atomic():
            gone_apps = App.objects.filter(market=market, name__in=gone)
            index_later("app", gone_apps.values_list("pk", flat=True))
            gone_apps.delete()
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
        enqueue_on_commit(market_sync_task, job.pk)
    return job
