"""Celery tasks of the market: thin wrappers that take ids and call services.

Every task has a time limit: the soft one raises in the task, which records why it
stopped; the hard one, a minute later, kills the process, and whatever it held is
left to the repair task."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from market.models import Market


@shared_task(
    ignore_result=True,
    soft_time_limit=settings.MARKET_SYNC_TIME_LIMIT_SECONDS,
    time_limit=settings.MARKET_SYNC_TIME_LIMIT_SECONDS + 60,
)
def market_sync_task(job_id: int) -> None:
    from market.services.sync import sync_job_run

    sync_job_run(job_id=job_id)


# Queues one job per market: a transaction and a message each.
@shared_task(ignore_result=True, soft_time_limit=120, time_limit=180)
def market_sync_all_task() -> None:
    """Periodic: queue a sync of every market (beat schedule in settings)."""
    from market.services.sync import sync_job_enqueue

    for market in Market.objects.all():
        sync_job_enqueue(market=market, requested_by="schedule")


# Two database passes over the stranded jobs, bounded to 500 of each kind.
@shared_task(ignore_result=True, soft_time_limit=60, time_limit=120)
def market_sync_repair_task() -> None:
    """Periodic: send again the sync jobs whose message or worker was lost."""
    from market.services.sync import sync_jobs_repair

    sync_jobs_repair()


# Fetches and reads one archive (up to PACKAGE_MAX_ARCHIVE_BYTES) per app. Apps not
# reached in time keep lagging details, and the next sync queues them again.
@shared_task(ignore_result=True, soft_time_limit=900, time_limit=960)
def app_details_task(app_ids: list[int]) -> None:
    from market.models import App
    from market.services.details import app_details_refresh

    for app in App.objects.filter(pk__in=app_ids).select_related("market"):
        app_details_refresh(app=app)


# Reads root.json and market.json of each writable market; writes only when due.
@shared_task(ignore_result=True, soft_time_limit=300, time_limit=360)
def market_resign_due_task() -> None:
    """Periodic: sign again the signed markets this portal writes before they expire."""
    from market.services.signing import markets_resign_due
    from portal.actors import Actor

    markets_resign_due(actor=Actor.system())
