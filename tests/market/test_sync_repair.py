"""The sync job repair on the database alone: which jobs count as stranded, what is
sent again, the try limit, and that a live job is never touched. The same on real
worker processes: test_sync_worker.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from market.models import Market, SyncJob
from market.services.sync import sync_job_claim, sync_job_enqueue, sync_jobs_repair
from tests.market.api_helpers import queued_tasks_fixture  # noqa: F401 - the queued_tasks fixture
from tests.market.catalogue_factories import make_market

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

STALE = 60


@pytest.fixture(autouse=True)
def _ages(settings: Any) -> None:
    settings.MARKET_SYNC_STALE_SECONDS = STALE
    settings.MARKET_SYNC_MAX_ATTEMPTS = 3


@pytest.fixture
def market(db: None) -> Market:
    return make_market("mirror")


@pytest.fixture
def repair(django_capture_on_commit_callbacks: Any) -> Callable[[], tuple[list[int], list[int]]]:
    """sync_jobs_repair as the beat task runs it: outside a transaction, so what it
    sends leaves at once (here: the test's transaction commits its callbacks)."""

    def run() -> tuple[list[int], list[int]]:
        with django_capture_on_commit_callbacks(execute=True):
            return sync_jobs_repair()

    return run


def ago(seconds: float) -> datetime:
    return timezone.now() - timedelta(seconds=seconds)


def job_in(market: Market, state: str, **fields: Any) -> SyncJob:
    return SyncJob.objects.create(market=market, state=state, **fields)


def test_a_queued_job_is_sent_again_only_once_its_message_is_older_than_the_stale_age(
    market: Market, queued_tasks: list[Any], repair: Callable[[], Any]
) -> None:
    lost = job_in(market, "queued", created_at=ago(STALE + 1))
    fresh = job_in(market, "queued", created_at=ago(STALE - 5))
    resent_long_ago = job_in(market, "queued", created_at=ago(3600), heartbeat_at=ago(STALE + 1))
    resent_lately = job_in(market, "queued", created_at=ago(3600), heartbeat_at=ago(5))

    assert repair() == ([lost.pk, resent_long_ago.pk], [])
    assert sorted(queued_tasks) == sorted([("sync", lost.pk), ("sync", resent_long_ago.pk)])
    # Sent now: the next tick leaves them alone until they are stale again.
    assert repair() == ([], [])
    assert {job.pk: job.state for job in SyncJob.objects.all()} == {
        lost.pk: "queued",
        fresh.pk: "queued",
        resent_long_ago.pk: "queued",
        resent_lately.pk: "queued",
    }


def test_a_running_job_whose_heartbeat_stopped_is_queued_again_and_says_why(
    market: Market, queued_tasks: list[Any], repair: Callable[[], Any]
) -> None:
    lost = job_in(market, "running", started_at=ago(600), heartbeat_at=ago(STALE + 1), attempt=1)

    assert repair() == ([lost.pk], [])

    lost.refresh_from_db()
    assert (lost.state, lost.attempt) == ("queued", 1)
    assert lost.error == "worker lost during sync; queued again (try 2 of 3)"
    market.refresh_from_db()
    assert market.last_sync_error == lost.error
    assert queued_tasks == [("sync", lost.pk)]
    assert sync_job_claim(job_id=lost.pk)
    lost.refresh_from_db()
    assert (lost.state, lost.attempt) == ("running", 2)


def test_a_running_job_that_lost_its_last_allowed_worker_fails(
    market: Market, queued_tasks: list[Any], repair: Callable[[], Any]
) -> None:
    lost = job_in(market, "running", started_at=ago(600), heartbeat_at=ago(STALE + 1), attempt=3)

    assert repair() == ([], [lost.pk])

    lost.refresh_from_db()
    assert (lost.state, lost.error) == ("failed", "worker lost during sync (3 tries)")
    assert lost.finished_at is not None
    market.refresh_from_db()
    assert market.last_sync_error == "worker lost during sync (3 tries)"
    assert queued_tasks == []


def test_a_running_job_with_a_fresh_heartbeat_is_never_touched_however_long_it_runs(
    market: Market, queued_tasks: list[Any], repair: Callable[[], Any]
) -> None:
    long_sync = job_in(market, "running", started_at=ago(7200), heartbeat_at=ago(2), attempt=3)
    done = job_in(market, "succeeded", created_at=ago(7200), finished_at=ago(7000))
    failed = job_in(market, "failed", created_at=ago(7200), error="boom")

    assert repair() == ([], [])

    states = dict(SyncJob.objects.values_list("pk", "state"))
    assert states == {long_sync.pk: "running", done.pk: "succeeded", failed.pk: "failed"}
    market.refresh_from_db()
    assert market.last_sync_error == ""
    assert queued_tasks == []


def test_the_claim_is_a_compare_and_set(market: Market) -> None:
    job = job_in(market, "queued")

    assert sync_job_claim(job_id=job.pk)
    assert not sync_job_claim(job_id=job.pk)  # a second delivery of the message
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("running", 1)
    assert job.heartbeat_at is not None


def test_a_sync_request_sends_a_stranded_queued_job_again_after_commit(
    market: Market, queued_tasks: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    lost = job_in(market, "queued", created_at=ago(STALE + 1))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = sync_job_enqueue(market=market, requested_by="olga")
        assert queued_tasks == []  # not before the commit

    assert job.pk == lost.pk
    assert len(callbacks) == 1
    assert queued_tasks == [("sync", lost.pk)]
    # Sent just now: a second request gets it back without another message.
    assert sync_job_enqueue(market=market, requested_by="olga").pk == lost.pk
    assert queued_tasks == [("sync", lost.pk)]


def test_a_sync_request_gets_a_fresh_queued_job_back_and_a_new_one_once_it_ran(
    market: Market, queued_tasks: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = sync_job_enqueue(market=market, requested_by="olga")
        assert sync_job_enqueue(market=market, requested_by="olga").pk == first.pk
    SyncJob.objects.filter(pk=first.pk).update(state="succeeded")

    with django_capture_on_commit_callbacks(execute=True):
        second = sync_job_enqueue(market=market, requested_by="olga")

    assert second.pk != first.pk
    assert queued_tasks == [("sync", first.pk), ("sync", second.pk)]
