"""Incremental sync of a subscribed market into the catalogue (SPEC section 3).

Cost is what changed, not what exists: one conditional GET of market.json when
nothing changed; otherwise only the index.json files whose index_digest moved.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from market.index import (
    IndexDigestMismatch,
    MarketDocumentError,
    check_advisories,
    check_market_entry,
    check_version_entry,
    check_yank_reason,
    index_key,
    latest_version,
    parse_index_json,
    parse_market_json,
    sha256_hex,
)
from market.models import App, AppVersion, Market, SyncJob
from market.selectors.installed import instance_ids_of
from market.services.markets import storage_for_market
from market.services.signing import market_signature_check, market_signature_fresh
from market.signing import SignatureError
from market.storage.base import NotFound
from portal.heartbeat import heartbeat
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
    advisories: list[dict[str, str]] = field(default_factory=list)
    yanked: dict[str, str] = field(default_factory=dict)  # version -> reason

    def app_fields(self) -> dict[str, Any]:
        # A yanked version is never the one an install picks, so never "latest"
        # either, unless every version is yanked.
        kept = [v for v in self.versions if v not in self.yanked]
        latest = latest_version(kept or list(self.versions))
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
            "advisories": self.advisories,
        }


_Fetched = _CheckedIndex | MarketDocumentError | NotFound

APP_FIELDS = (
    "title",
    "summary",
    "category",
    "keywords",
    "latest",
    "updated",
    "index_digest",
    "advisories",
)
# Apps fetched, then written in one transaction: bounds memory and transaction size,
# and costs a fixed number of queries per chunk instead of several per app.
SYNC_CHUNK = 250
# index.json downloads in flight at once: a cold sync of a distant market waits on
# round trips, not on bandwidth. Below the HTTP and S3 connection pools' 10.
SYNC_FETCH_THREADS = 8


def _check_index(name: str, digest: str, index: dict[str, Any]) -> _CheckedIndex:
    """Keep the valid version entries; raise MarketDocumentError when none is.

    A bad advisory or yank reason refuses the whole index, not one entry: skipping
    it would show a yanked or vulnerable version as a clean one."""
    checked = _CheckedIndex(
        name=name,
        digest=digest,
        versions={},
        problems=[],
        advisories=check_advisories(name, index.get("advisories")),
    )
    for version, entry in index["versions"].items():
        try:
            check_version_entry(name, version, entry)
        except MarketDocumentError as exc:
            checked.problems.append(str(exc))
            continue
        checked.versions[version] = entry
        if "yanked" in entry:
            checked.yanked[version] = check_yank_reason(
                entry["yanked"], what=f"{name} {version}: yanked"
            )
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

        stored: dict[int, dict[str, tuple[int, str, str]]] = {}
        if existing:
            for pk, app_id, version, digest, yanked in (
                AppVersion.objects.filter(app_id__in=[a.pk for a in existing.values()])
                .order_by()
                .values_list("pk", "app_id", "version", "digest", "yanked")
            ):
                stored.setdefault(app_id, {})[version] = (pk, digest, yanked)
        stale: list[int] = []
        new_rows: list[AppVersion] = []
        # Versions whose only change is a yank or its undo: updated in place.
        reyanked: list[AppVersion] = []
        for index in indexes:
            app = apps[index.name]
            have = stored.get(app.pk, {})
            for version, (pk, digest, _yanked) in have.items():
                entry = index.versions.get(version)
                if entry is None or entry["digest"] != digest:
                    stale.append(pk)
            for version, entry in index.versions.items():
                reason = index.yanked.get(version, "")
                if version in have and have[version][1] == entry["digest"]:
                    if have[version][2] != reason:
                        reyanked.append(AppVersion(pk=have[version][0], yanked=reason))
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
                        yanked=reason,
                    )
                )
        for start in range(0, len(stale), 500):
            AppVersion.objects.filter(pk__in=stale[start : start + 500]).delete()
        AppVersion.objects.bulk_create(new_rows, batch_size=500)
        AppVersion.objects.bulk_update(reyanked, ["yanked"], batch_size=500)
        index_later("app", [app.pk for app in apps.values()])
        # Instances carry their version's flags in search (yanked, advisories).
        index_later("instance", instance_ids_of(market=market, names=list(apps)))


def catalogue_store_index(*, market: Market, name: str, index_bytes: bytes) -> None:
    """Store one app's index.json, as this portal just wrote it, in the catalogue:
    what a sync would store for it, without waiting for one (publish)."""
    digest = sha256_hex(index_bytes)
    _store_apps(market, [_check_index(name, digest, parse_index_json(name, index_bytes, digest))])


def market_sync(*, market: Market) -> SyncReport:
    """Bring the catalogue of one market up to date.

    1. conditional GET of market.json (If-None-Match: the last ETag) — unchanged: done;
    2. refuse a serial lower than one already seen, keeping the catalogue; for a
       subscription that pins a root (SPEC 14), refuse also a root.json not
       signed by the keys of the root before it, and a market.json not signed
       by the newest root's keys or expired (an unchanged one is checked for
       expiry too) — before anything is stored;
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
        try:
            market_signature_fresh(market=market)
        except SignatureError as exc:
            raise SyncRefused(f"{exc}; keeping the previous catalogue") from None
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
    try:
        trust_root, signature = market_signature_check(market=market, storage=storage, doc=doc)
    except SignatureError as exc:
        raise SyncRefused(f"{exc}; keeping the previous catalogue") from None

    # A pinned market is all or nothing: an index that breaks the signed chain
    # refuses the whole sync, so every chunk is stored in one transaction that
    # the refusal rolls back. (An unpinned one keeps the good apps, chunk by chunk.)
    pinned = trust_root is not None
    with transaction.atomic() if pinned else nullcontext():
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
                if pinned and isinstance(result, IndexDigestMismatch | NotFound):
                    raise SyncRefused(
                        f"{name}: index.json is not the one the signed market.json names"
                        f" ({result or 'not found'}); keeping the previous catalogue"
                    )
                if isinstance(result, _CheckedIndex):
                    report.skipped.extend({"app": name, "reason": why} for why in result.problems)
                    checked.append(result)
                else:
                    report.skipped.append(
                        {"app": name, "reason": str(result) or f"{name}: not found"}
                    )
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
            trust_root=trust_root,
            signature=signature,
        )
    market.etag, market.serial = blob.etag, doc["serial"]
    market.trust_root, market.signature = trust_root, signature
    for skipped in report.skipped:
        log.warning("market %s: skipped %s", market.name, skipped["reason"])
    return report


def _stale(now: datetime) -> Q:
    """Jobs that neither a live worker nor a message in the queue carries: their last
    sign of life (heartbeat, last send, else creation) is older than the stale age."""
    before = now - timedelta(seconds=settings.MARKET_SYNC_STALE_SECONDS)
    return Q(heartbeat_at__lt=before) | Q(heartbeat_at__isnull=True, created_at__lt=before)


def _send(job_id: int) -> None:
    """Send the job after commit (at once outside a transaction), never raising for
    the broker: the job row stays queued for the repair (portal.queue)."""
    from market.tasks import market_sync_task

    enqueue_on_commit(market_sync_task, job_id, queue=settings.MARKET_SYNC_QUEUE)


def sync_job_enqueue(*, market: Market, requested_by: str = "") -> SyncJob:
    """Queue a sync after the current transaction commits. A market with a job
    already queued gets that job back instead of a second one; when that job's
    message looks lost (sent longer ago than the stale age) it is sent again, so the
    job handed back is always on its way to a worker (the claim makes a message
    sent twice harmless)."""
    with transaction.atomic():
        job = (
            SyncJob.objects.select_for_update()
            .filter(market=market, state=SyncJob.State.QUEUED)
            .first()
        )
        if job is None:
            job = SyncJob.objects.create(market=market, requested_by=requested_by)
        else:
            now = timezone.now()
            if not SyncJob.objects.filter(_stale(now), pk=job.pk).update(heartbeat_at=now):
                return job
            log.warning("sync job %s of market %s had no message; sent again", job.pk, market)
        _send(job.pk)
    return job


def sync_job_claim(*, job_id: int) -> bool:
    """Take a queued job for this worker. Compare-and-set: of two deliveries of one
    job (a redelivery, or a message the repair sent again) only one runs it."""
    now = timezone.now()
    claimed = SyncJob.objects.filter(pk=job_id, state=SyncJob.State.QUEUED).update(
        state=SyncJob.State.RUNNING, attempt=F("attempt") + 1, heartbeat_at=now, started_at=now
    )
    return claimed == 1


def _sync_job_fail(*, job: SyncJob, error: str) -> None:
    """Record a failed sync on the job and on the market, where users see it."""
    log.warning("sync of market %s failed: %s", job.market, error)
    with transaction.atomic():
        SyncJob.objects.filter(pk=job.pk).update(
            state=SyncJob.State.FAILED, finished_at=timezone.now(), heartbeat_at=None, error=error
        )
        Market.objects.filter(pk=job.market_id).update(last_sync_error=error)


def sync_job_run(*, job_id: int) -> None:
    """Run one sync job in this worker.

    1. claim it, or return (another delivery runs it, or it is finished);
    2. sync its market while a heartbeat shows the repair that this worker lives;
    3. record the outcome on the job (a failure on the market too);
    4. after a success, queue the details fetch of every app whose stored details
       lag its latest version (not only the ones this sync changed: a details
       fetch that failed last time is tried again).
    """
    if not sync_job_claim(job_id=job_id):
        return
    job = SyncJob.objects.select_related("market").get(pk=job_id)
    running = SyncJob.objects.filter(pk=job_id, state=SyncJob.State.RUNNING)
    try:
        with heartbeat(
            running, every=settings.MARKET_SYNC_HEARTBEAT_SECONDS, name=f"sync job {job_id}"
        ):
            report = market_sync(market=job.market)
    except SoftTimeLimitExceeded:
        _sync_job_fail(
            job=job,
            error=f"sync stopped after MARKET_SYNC_TIME_LIMIT_SECONDS"
            f" ({settings.MARKET_SYNC_TIME_LIMIT_SECONDS} s); the next sync goes on"
            " from what this one stored",
        )
        return
    except Exception as exc:  # recorded on the job and the market, shown to users
        _sync_job_fail(job=job, error=f"{type(exc).__name__}: {exc}"[:500])
        return
    SyncJob.objects.filter(pk=job_id).update(
        state=SyncJob.State.SUCCEEDED,
        finished_at=timezone.now(),
        heartbeat_at=None,
        report=report.as_dict(),
    )
    latest_digest = AppVersion.objects.filter(
        app=OuterRef("pk"), version=OuterRef("latest")
    ).values("digest")[:1]
    app_ids = list(
        job.market.apps.annotate(latest_digest=Subquery(latest_digest))
        .exclude(details_digest=F("latest_digest"))
        .values_list("pk", flat=True)
    )
    if app_ids:
        from market.tasks import app_details_task

        enqueue_on_commit(app_details_task, app_ids, queue=settings.MARKET_SYNC_QUEUE)


def sync_jobs_repair(*, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Carry on the sync jobs that no worker and no message carry. Returns the ids
    (sent again, failed).

    1. a queued job whose message was sent longer ago than the stale age (a lost
       message) is sent again;
    2. a running job whose heartbeat is that old (a lost worker) is queued again
       and sent — sync is incremental, so the next worker goes on from what was
       stored — with "worker lost during sync" on the job and the market; one that
       has lost MARKET_SYNC_MAX_ATTEMPTS workers fails instead, so a market whose
       sync kills its worker (memory, the hard time limit) is not tried for ever.

    Each change is a compare-and-set on the state and the stale heartbeat: a job
    that finished or beat meanwhile is left alone."""
    now = now or timezone.now()
    stale = _stale(now)
    limit = settings.MARKET_SYNC_MAX_ATTEMPTS
    sent: list[int] = []
    failed: list[int] = []
    for job_id in SyncJob.objects.filter(stale, state=SyncJob.State.QUEUED).values_list(
        "pk", flat=True
    )[:500]:
        if SyncJob.objects.filter(stale, pk=job_id, state=SyncJob.State.QUEUED).update(
            heartbeat_at=now
        ):
            log.warning("sync job %s had no message; sent again", job_id)
            sent.append(job_id)
    for job in SyncJob.objects.filter(stale, state=SyncJob.State.RUNNING).only(
        "pk", "market_id", "attempt"
    )[:500]:
        lost = SyncJob.objects.filter(stale, pk=job.pk, state=SyncJob.State.RUNNING)
        with transaction.atomic():
            if job.attempt >= limit:
                tries = "1 try" if job.attempt == 1 else f"{job.attempt} tries"
                error = f"worker lost during sync ({tries})"
                if not lost.update(
                    state=SyncJob.State.FAILED, finished_at=now, heartbeat_at=None, error=error
                ):
                    continue
                failed.append(job.pk)
            else:
                error = f"worker lost during sync; queued again (try {job.attempt + 1} of {limit})"
                if not lost.update(state=SyncJob.State.QUEUED, heartbeat_at=now, error=error):
                    continue
                sent.append(job.pk)
            Market.objects.filter(pk=job.market_id).update(last_sync_error=error)
        log.warning("sync job %s: %s", job.pk, error)
    for job_id in sent:
        _send(job_id)
    return sent, failed
