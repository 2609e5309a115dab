"""Finds operations no worker is carrying and hands them to a worker again.

A worker killed mid-operation leaves it ``running`` with a heartbeat that stops;
an enqueue lost after commit leaves it ``queued`` with no message; a retry message
lost with its worker leaves it ``running`` past its ``retry_at``. Either way the
reaper sends a fresh message; the claim in the engine makes duplicates harmless,
and past the attempt limit the engine fails the operation and undoes it, so no
operation stays running forever."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from deployments.models import Operation, OperationState
from portal.queue import enqueue_on_commit

log = logging.getLogger(__name__)


def stranded_operations() -> list[str]:
    stale = timezone.now() - timedelta(seconds=settings.WORKFLOW_STALE_SECONDS)
    # An operation waiting out a transient failure has no heartbeat but a retry
    # already scheduled: it is stranded only once that retry is overdue by the
    # stale age (its message was lost with a worker), never before, or the
    # reaper would cut its backoff short.
    running = Q(state=OperationState.RUNNING)
    rows = Operation.objects.filter(
        Q(running, retry_at__isnull=True, heartbeat_at__lt=stale)
        | Q(running, retry_at__isnull=True, heartbeat_at__isnull=True, started_at__lt=stale)
        | Q(running, retry_at__lt=stale)
        | Q(state=OperationState.QUEUED, created_at__lt=stale)
    )
    # Only the first of a chain: dependencies waiting for their own messages are
    # run by the operation that needs them.
    return [str(pk) for pk in rows.order_by("created_at").values_list("pk", flat=True)[:500]]


def operations_reap() -> list[str]:
    """Enqueue every stranded operation; returns their ids."""
    from deployments.tasks import operation_run_task

    stranded = stranded_operations()
    for operation_id in stranded:
        log.warning("operation %s has no live worker; queueing it again", operation_id)
        enqueue_on_commit(operation_run_task, operation_id, queue=settings.WORKFLOW_QUEUE)
    return stranded
