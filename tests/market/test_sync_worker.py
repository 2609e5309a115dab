"""Sync jobs on PostgreSQL + Redis + real Celery worker processes: a job whose message
was lost, and a worker SIGKILLed in the middle of a sync. Either way the market ends
synced and its next sync works."""

from __future__ import annotations

import contextlib
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from market.models import App, Market, SyncJob
from market.services.sync import sync_job_enqueue
from tests.deployments.worker import Worker, celery_worker, new_queue, wait_for
from tests.factories import make_user
from tests.market.catalogue_factories import make_market
from tests.market.disk_market import DiskMarket
from tests.market.storage_fixtures import MarketHTTPServer, _Handler

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.services,
    pytest.mark.slow,
]

APPS = [f"app-{number}" for number in range(6)]
REPAIR_RAN = re.compile(r"market_sync_repair_task\[[^\]]+\] succeeded")

# Short ages, so that the repair acts within seconds.
FAST_REPAIR = {
    "MARKET_SYNC_HEARTBEAT_SECONDS": "1",
    "MARKET_SYNC_STALE_SECONDS": "3",
    "MARKET_SYNC_REPAIR_INTERVAL_SECONDS": "1",
}


@pytest.fixture
def queue(settings: Any) -> str:
    settings.MARKET_SYNC_QUEUE = new_queue()
    return settings.MARKET_SYNC_QUEUE


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def sync_worker(
    data_dir: Path, queue: str, *, beat: bool = False, concurrency: int = 1, **env: str
) -> Any:
    return celery_worker(
        data_dir,
        queue,
        beat=beat,
        env={"MARKET_SYNC_QUEUE": queue, **FAST_REPAIR, **env},
        concurrency=concurrency,
    )


def disk_market(root: Path) -> DiskMarket:
    disk = DiskMarket(root)
    for name in APPS:
        disk.publish(name, "1.0.0")
    return disk


def finished(job_id: int, worker: Worker, timeout: float = 60) -> SyncJob:
    def done() -> SyncJob | None:
        job = SyncJob.objects.get(pk=job_id)
        return job if job.state in (SyncJob.State.SUCCEEDED, SyncJob.State.FAILED) else None

    return wait_for(done, what=f"sync job {job_id}", timeout=timeout, worker=worker)


def assert_synced(market: Market, disk: DiskMarket) -> None:
    market.refresh_from_db()
    assert sorted(App.objects.filter(market=market).values_list("name", flat=True)) == APPS
    assert (market.serial, market.last_sync_error) == (disk.doc["serial"], "")


def lost_message_job(market: Market) -> SyncJob:
    """A queued job with no message behind it, as a broker that lost it leaves it."""
    return SyncJob.objects.create(
        market=market, requested_by="olga", created_at=timezone.now() - timedelta(hours=1)
    )


# --- a message lost -------------------------------------------------------------------


def test_a_job_whose_message_was_lost_is_sent_again_by_the_repair(
    queue: str, data_dir: Path, tmp_path: Path, api_client: Any
) -> None:
    disk = disk_market(tmp_path / "disk")
    market = make_market("mirror", location=str(disk.root))
    lost = lost_message_job(market)

    with sync_worker(data_dir, queue, beat=True) as worker:
        job = finished(lost.pk, worker)
        assert job.state == "succeeded", job.error
        assert job.attempt == 1
        assert_synced(market, disk)

        # Finished: the next request gets a job of its own, which runs.
        disk.publish("app-9", "1.0.0")
        api_client.force_login(make_user("root", staff=True))
        response = api_client.post("/api/v1/markets/mirror/sync/")
        assert response.status_code == 202
        assert response.json()["id"] != lost.pk
        assert finished(response.json()["id"], worker).state == "succeeded"
    assert App.objects.filter(market=market, name="app-9").exists()


def test_a_sync_request_never_gets_back_a_job_whose_message_was_lost(
    queue: str, data_dir: Path, tmp_path: Path, api_client: Any
) -> None:
    """No beat here: the request itself sends the stranded job again."""
    disk = disk_market(tmp_path / "disk")
    market = make_market("mirror", location=str(disk.root))
    lost = lost_message_job(market)
    api_client.force_login(make_user("root", staff=True))

    with sync_worker(data_dir, queue) as worker:
        response = api_client.post("/api/v1/markets/mirror/sync/")
        assert response.status_code == 202
        job = finished(response.json()["id"], worker)
        assert job.state == "succeeded", job.error
        assert_synced(market, disk)
        assert SyncJob.objects.get(pk=lost.pk).state == "succeeded"

        again = sync_job_enqueue(market=market, requested_by="olga")
        assert again.pk not in (lost.pk, job.pk)
        assert finished(again.pk, worker).state == "succeeded"


# --- a worker killed mid-sync ---------------------------------------------------------


class HeldIndex:
    """Holds the answer to one app's index.json until released, so that a worker is
    known to be in the middle of a sync when the test kills it."""

    def __init__(self, server: MarketHTTPServer, app: str) -> None:
        self.server = server
        self.path = f"/apps/{app}/index.json"
        self.arrived = threading.Event()
        self.released = threading.Event()
        server.routes[self.path] = self.respond

    def respond(self, handler: _Handler) -> None:
        self.arrived.set()
        self.released.wait(timeout=120)
        with contextlib.suppress(OSError):  # the worker that asked was killed meanwhile
            self.server.serve_file(handler)

    def release(self) -> None:
        del self.server.routes[self.path]
        self.released.set()


def kill_during_sync(data_dir: Path, queue: str, market: Market, held: HeldIndex) -> SyncJob:
    """Queue a sync, SIGKILL the worker while it waits for the held index.json."""
    with sync_worker(data_dir, queue) as first:
        job = sync_job_enqueue(market=market, requested_by="olga")
        wait_for(
            lambda: (
                held.arrived.is_set()
                and SyncJob.objects.filter(pk=job.pk, state="running").exists()
            ),
            what="sync under way",
            worker=first,
        )
        first.kill()
    held.release()
    job.refresh_from_db()
    assert job.state == "running"
    return job


@pytest.fixture
def served(http_market: MarketHTTPServer) -> tuple[DiskMarket, Market]:
    """A market of six apps over HTTP on loopback, not synced yet."""
    disk = disk_market(http_market.root / "market")
    http_market.root = disk.root
    market = make_market("remote", location=http_market.url, allow_private_network=True)
    return disk, market


def test_a_worker_killed_mid_sync_is_replaced_and_the_sync_finishes(
    queue: str, data_dir: Path, http_market: MarketHTTPServer, served: Any
) -> None:
    disk, market = served
    job = kill_during_sync(data_dir, queue, market, HeldIndex(http_market, "app-3"))

    with sync_worker(data_dir, queue, beat=True) as second:
        job = finished(job.pk, second)
        assert job.state == "succeeded"
        assert job.attempt == 2
        assert "worker lost during sync" in job.error
        assert_synced(market, disk)

        disk.publish("app-9", "1.0.0")
        again = sync_job_enqueue(market=market, requested_by="olga")
        assert again.pk != job.pk
        assert finished(again.pk, second).state == "succeeded"
    assert App.objects.filter(market=market, name="app-9").exists()


def test_past_the_try_limit_a_lost_sync_fails_and_says_why(
    queue: str, data_dir: Path, http_market: MarketHTTPServer, served: Any
) -> None:
    disk, market = served
    job = kill_during_sync(data_dir, queue, market, HeldIndex(http_market, "app-3"))

    with sync_worker(data_dir, queue, beat=True, MARKET_SYNC_MAX_ATTEMPTS="1") as second:
        job = finished(job.pk, second)
        assert job.state == "failed"
        assert job.error == "worker lost during sync (1 try)"
        market.refresh_from_db()
        assert market.last_sync_error == job.error

        again = sync_job_enqueue(market=market, requested_by="olga")
        assert finished(again.pk, second).state == "succeeded"
        assert_synced(market, disk)


def test_a_long_sync_under_a_live_worker_is_left_alone_by_the_repair(
    queue: str, data_dir: Path, http_market: MarketHTTPServer, served: Any
) -> None:
    """The sync outlives the stale age several times over, with the repair running
    beside it (a second pool process): its heartbeat keeps it its worker's."""
    disk, market = served
    held = HeldIndex(http_market, "app-3")
    with sync_worker(data_dir, queue, beat=True, concurrency=2) as worker:
        job = sync_job_enqueue(market=market, requested_by="olga")
        wait_for(held.arrived.is_set, what="sync under way", worker=worker)

        def beaten_past_stale_age() -> bool:
            job.refresh_from_db()
            assert job.heartbeat_at is not None and job.started_at is not None
            return (job.heartbeat_at - job.started_at).total_seconds() > 4

        wait_for(beaten_past_stale_age, what="heartbeats past the stale age", worker=worker)
        seen = len(worker.output())
        wait_for(
            lambda: len(REPAIR_RAN.findall(worker.output()[seen:])) >= 3,
            what="repairs during the sync",
            worker=worker,
        )
        held.release()
        job = finished(job.pk, worker)
    assert (job.state, job.attempt, job.error) == ("succeeded", 1, "")
    assert_synced(market, disk)
