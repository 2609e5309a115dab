"""Celery tasks of the deployments app: thin wrappers that take ids and call the
workflow engine."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings


@shared_task(
    bind=True,
    ignore_result=True,
    # Idempotent steps make redelivery safe: acknowledge only once the work is
    # done, and requeue when the worker process dies under it.
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def operation_run_task(self: Any, operation_id: str) -> None:
    from deployments.workflow.engine import operation_abandon, operation_execute
    from deployments.workflow.errors import StepTransient

    try:
        operation_execute(operation_id)
    except StepTransient as exc:
        retries = self.request.retries
        if retries >= settings.WORKFLOW_MAX_RETRIES:
            operation_abandon(operation_id, f"gave up after {retries + 1} tries: {exc}")
            return
        countdown = settings.WORKFLOW_RETRY_BACKOFF_SECONDS * 2**retries
        raise self.retry(countdown=countdown, exc=exc) from None


@shared_task(ignore_result=True)
def operations_reap_task() -> None:
    """Periodic (beat schedule in settings): resume operations whose worker died."""
    from deployments.workflow.reaper import operations_reap

    operations_reap()
