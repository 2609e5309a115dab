"""Celery tasks of search: thin wrappers around search.services."""

from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger(__name__)


# Failures, a cut-short run included, stay in the outbox for search_repair_task.
@shared_task(ignore_result=True, soft_time_limit=2 * 60, time_limit=3 * 60)
def search_index_task(kind: str, keys: list[str]) -> None:
    """Index these rows (queued on commit by index_later). Idempotent: it reads the
    rows as they are now; failures stay in the outbox for search_repair_task."""
    from search.services.indexing import index_apply

    index_apply(kind=kind, keys=keys)


@shared_task(ignore_result=True, soft_time_limit=5 * 60, time_limit=6 * 60)
def search_repair_task() -> None:
    """Periodic: index what the outbox still holds, drop indexes left by rebuilds."""
    from search.client import UNAVAILABLE, WRITE_TIMEOUT, es_client, search_enabled
    from search.services.indexing import components_refresh, empty_fill, pending_repair
    from search.services.rebuild import indices_cleanup

    if not search_enabled():
        return
    pending_repair()
    try:
        empty_fill()
        components_refresh()
        indices_cleanup(es_client(timeout=WRITE_TIMEOUT))
    except UNAVAILABLE as exc:
        log.warning("search: component docs refresh or index cleanup skipped: %s", exc)


# Loads whole indexes from the database.
@shared_task(ignore_result=True, soft_time_limit=15 * 60, time_limit=16 * 60)
def search_fill_task(kinds: list[str]) -> None:
    """Load indexes that were created empty on first use."""
    from search.client import WRITE_TIMEOUT, es_client
    from search.services.indexing import kinds_fill

    kinds_fill(es_client(timeout=WRITE_TIMEOUT), kinds)
