"""Celery tasks of the deployments app: thin wrappers that take ids and call the
workflow engine."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(
    bind=True,
    ignore_result=True,
    # Idempotent steps make redelivery safe: acknowledge only once the work is
    # done, and requeue when the worker process dies under it.
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    # One attempt runs every step: fetch, render (itself bounded by
    # RENDER_TIMEOUT_SECONDS), apply (git commit and push), verify. Cut short, the
    # operation's heartbeat stops and the reaper resumes or fails it.
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
)
def operation_run_task(self: Any, operation_id: str) -> None:
    from deployments.workflow.engine import operation_execute

    # The retry count lives on the operation, not in this message: a retry the
    # reaper re-sends (its message lost with a worker) keeps counting from there.
    countdown = operation_execute(operation_id)
    if countdown is not None:
        raise self.retry(countdown=countdown)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=120)
def operations_reap_task() -> None:
    """Periodic (beat schedule in settings): resume operations whose worker died."""
    from deployments.workflow.reaper import operations_reap

    operations_reap()


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=60)
def clusters_check_task() -> None:
    """Periodic (beat schedule in settings): queue a check of every cluster."""
    from deployments.services.clusters import clusters_check_all

    clusters_check_all()


@shared_task(
    ignore_result=True,
    # A check is at most six requests, each bounded by CLUSTER_TIMEOUT_SECONDS to
    # connect and again to read (10 s by default); a server slower than that is
    # recorded as unreachable by the soft limit's exception.
    soft_time_limit=150,
    time_limit=180,
)
def cluster_check_task(cluster_id: int) -> None:
    from deployments.services.clusters import cluster_check

    cluster_check(cluster_id=cluster_id)


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=60)
def live_refresh_all_task() -> None:
    """Periodic (beat schedule in settings): queue a live-state refresh per namespace."""
    from deployments.services.live import live_refresh_all

    live_refresh_all()


@shared_task(
    ignore_result=True,
    # One list request per kind in the namespace, each bounded by
    # CLUSTER_TIMEOUT_SECONDS; the next beat tries again.
    soft_time_limit=120,
    time_limit=150,
)
def namespace_live_refresh_task(namespace_id: int) -> None:
    from deployments.services.live import namespace_live_refresh

    namespace_live_refresh(namespace_id=namespace_id)
