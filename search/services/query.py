"""Site search for pages and the API: one entry point whatever the backend.

With Elasticsearch configured, a search that it cannot answer (down, slow, an
error) is answered from the database instead, marked ``degraded``; after a
failure the server is left alone for a few seconds so that pages do not each
wait for a timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings

from portal.queue import enqueue_on_commit
from search.backends.base import (
    FACETS,
    MAX_QUERY_LENGTH,
    TYPES,
    SearchBackend,
    SearchQuery,
    SearchResults,
    Suggestion,
)
from search.backends.database import DatabaseBackend
from search.backends.elastic import ElasticsearchBackend
from search.client import UNAVAILABLE, es_client, indices_ensure, search_enabled

log = logging.getLogger(__name__)

BACKOFF_SECONDS = 5.0
_down_until: dict[str, float] = {}
_lock = threading.Lock()


def search_query_parse(params: Any, *, per_page: int = 20) -> SearchQuery:
    """A SearchQuery from request parameters; anything malformed is ignored."""
    q = " ".join(str(params.get("q") or "").split())[:MAX_QUERY_LENGTH]
    kind = str(params.get("type") or "")
    try:
        page = max(1, min(int(params.get("page") or 1), 10_000))
    except (TypeError, ValueError):
        page = 1
    filters = {f: str(params.get(f))[:200] for f in FACETS if params.get(f)}
    return SearchQuery(
        q=q, type=kind if kind in TYPES else "", filters=filters, page=page, per_page=per_page
    )


def _primary() -> SearchBackend | None:
    if not search_enabled():
        return None
    url = str(settings.ELASTICSEARCH_URL)
    with _lock:
        if _down_until.get(url, 0.0) > time.monotonic():
            return None
    return ElasticsearchBackend()


def _mark_down(exc: Exception) -> None:
    log.warning("search: Elasticsearch unavailable, answering from the database: %s", exc)
    with _lock:
        _down_until[str(settings.ELASTICSEARCH_URL)] = time.monotonic() + BACKOFF_SECONDS


def _ensure() -> None:
    created = indices_ensure(es_client())
    if created:
        from search.tasks import search_fill_task

        # New empty indexes on first use: a worker loads them (or, with the broker
        # down, the periodic repair task: it fills what it finds empty).
        enqueue_on_commit(search_fill_task, created)


def search_run(*, user: Any, query: SearchQuery) -> SearchResults:
    primary = _primary()
    if primary is not None:
        try:
            _ensure()
            return primary.search(query, user=user)
        except UNAVAILABLE as exc:
            _mark_down(exc)
        results = DatabaseBackend().search(query, user=user)
        results.degraded = True
        return results
    results = DatabaseBackend().search(query, user=user)
    results.degraded = search_enabled()
    return results


def search_suggest(*, user: Any, q: str, limit: int = 8) -> list[Suggestion]:
    q = " ".join(q.split())[:MAX_QUERY_LENGTH]
    if not q or not user.is_authenticated:
        return []
    primary = _primary()
    if primary is not None:
        try:
            _ensure()
            return primary.suggest(q, user=user, limit=limit)
        except UNAVAILABLE as exc:
            _mark_down(exc)
    return DatabaseBackend().suggest(q, user=user, limit=limit)


def forget_failures() -> None:
    """Try the search server again at once (tests, after it came back)."""
    with _lock:
        _down_until.clear()
