"""Celery tasks of instance metrics: thin wrappers on the beat schedule (settings)."""

from __future__ import annotations

import logging
import time
import uuid

from celery import shared_task
from django.core.cache import cache

from telemetry.discovery import DiscoveryFailed

log = logging.getLogger(__name__)

ROUND_LOCK = "telemetry:scrape-round"


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=150)
def metrics_discover_task() -> None:
    """Find the exporters of every instance on a Kubernetes target."""
    from telemetry.discovery import targets_discover

    targets_discover()


@shared_task(
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
    # The API server being away is transient; past the retries the beat round finds
    # the targets all the same.
    autoretry_for=(DiscoveryFailed,),
    retry_backoff=5,
    max_retries=3,
)
def metrics_instance_discover_task(instance_id: int) -> None:
    """Find one instance's exporters after an operation on it ended (or drop them)."""
    from deployments.models import Instance
    from telemetry.discovery import instance_targets_discover

    instance = (
        Instance.objects.select_related("namespace", "namespace__cluster")
        .filter(pk=instance_id)
        .first()
    )
    if instance is None:  # deleted meanwhile: its targets went with it (cascade)
        return
    instance_targets_discover(instance=instance)


@shared_task(
    ignore_result=True,
    # A round is bounded by its targets' own deadlines (METRICS_SCRAPE_TIMEOUT_SECONDS
    # each, METRICS_SCRAPE_CONCURRENCY at a time); these limits only catch a stuck
    # storage backend.
    soft_time_limit=540,
    time_limit=600,
)
def metrics_scrape_task() -> None:
    """Scrape every target once, unless another round still runs (on any worker or
    host: the lock is in the shared cache), which would scrape everything twice."""
    from telemetry.scrape import metrics_scrape_round

    token = uuid.uuid4().hex
    if not cache.add(ROUND_LOCK, token, timeout=600):
        log.info("a scrape round is still running; skipping this one")
        return
    started = time.monotonic()
    try:
        report = metrics_scrape_round()
        log.info(
            "scraped %d targets (%d up, %d down), %d samples in %.1fs",
            report.targets,
            report.up,
            report.down,
            report.samples,
            time.monotonic() - started,
        )
    finally:
        if cache.get(ROUND_LOCK) == token:
            cache.delete(ROUND_LOCK)


@shared_task(ignore_result=True, soft_time_limit=540, time_limit=600)
def metrics_prune_task() -> None:
    """Drop samples past METRICS_RETENTION_HOURS (and downsample, database backend)."""
    from telemetry.storage import metrics_store

    metrics_store().prune(now=time.time())
