"""Celery tasks of the market: thin wrappers that take ids and call services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from market.models import AppVersion, Market, SyncJob
from portal.queue import enqueue_on_commit

log = logging.getLogger(__name__)

# Every task has a soft limit (SoftTimeLimitExceeded inside the task: it stops where it
# is and the repair paths below pick up) and a hard one a minute later (the pool
# process is killed). Each fits the task's work with room to spare; none is near
# the short periodic intervals it runs at.


# A sync reads every new package of the market (storage reads, package checks).
@shared_task(ignore_result=True, soft_time_limit=15 * 60, time_limit=16 * 60)
def market_sync_task(job_id: int) -> None:
    from market.services.sync import market_sync

    # Compare-and-set: a redelivered message finds the job no longer queued.
    claimed = SyncJob.objects.filter(pk=job_id, state=SyncJob.State.QUEUED).update(
        state=SyncJob.State.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return
    job = SyncJob.objects.select_related("market").get(pk=job_id)
    try:
        report = market_sync(market=job.market)
    except Exception as exc:  # recorded on the job and the market, shown to users
        message = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("sync of market %s failed: %s", job.market.name, message)
        SyncJob.objects.filter(pk=job_id).update(
            state=SyncJob.State.FAILED, finished_at=timezone.now(), error=message
        )
        Market.objects.filter(pk=job.market_id).update(last_sync_error=message)
        return
    SyncJob.objects.filter(pk=job_id).update(
        state=SyncJob.State.SUCCEEDED, finished_at=timezone.now(), report=report.as_dict()
    )
    # Every app whose stored details lag its latest version, not only the ones
    # this sync changed: a details fetch that failed last time is retried.
    latest_digest = AppVersion.objects.filter(
        app=OuterRef("pk"), version=OuterRef("latest")
    ).values("digest")[:1]
    app_ids = list(
        job.market.apps.annotate(latest_digest=Subquery(latest_digest))
        .exclude(details_digest=F("latest_digest"))
        .values_list("pk", flat=True)
    )
    if app_ids:
        enqueue_on_commit(app_details_task, app_ids)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=120)
def market_sync_all_task() -> None:
    """Periodic: queue a sync of every market (beat schedule in settings)."""
    from market.services.sync import sync_job_enqueue

    for market in Market.objects.all():
        sync_job_enqueue(market=market, requested_by="schedule")


# Fetches and reads one package per app (README, docs, icon).
@shared_task(ignore_result=True, soft_time_limit=10 * 60, time_limit=11 * 60)
def app_details_task(app_ids: list[int]) -> None:
    from market.models import App
    from market.services.details import app_details_refresh

    for app in App.objects.filter(pk__in=app_ids).select_related("market"):
        app_details_refresh(app=app)
