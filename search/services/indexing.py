"""Keeping the search index up to date with the database.

Other areas call :func:`index_later` inside the transaction of a change. It writes
outbox rows (search.models.PendingIndex) in that transaction and, on commit, queues
a task that indexes the keys in bulk and deletes the rows. A write therefore never
waits for or fails on Elasticsearch; what could not be indexed stays in the outbox
and the periodic repair task (search_repair) indexes it when the server is back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max
from elasticsearch import Elasticsearch, helpers

from portal.queue import enqueue_on_commit
from search.client import (
    UNAVAILABLE,
    WRITE_TIMEOUT,
    alias_name,
    es_client,
    indices_ensure,
    search_enabled,
)
from search.documents import INDEXED_KINDS
from search.models import PendingIndex
from search.selectors.sources import BUILDERS, Built, all_keys, kind_has_rows

log = logging.getLogger(__name__)

CHUNK = 500
# Set by a running rebuild: {kind: new index name}. Writes go there too, so that
# what changes while the rebuild loads is not lost at the alias swap.
BUILDING_KEY = "search:building:{prefix}"


@dataclass
class IndexReport:
    indexed: int = 0
    deleted: int = 0
    failed: bool = False


def index_later(kind: str, keys: Iterable[str | int]) -> None:
    """Bring the documents of these rows up to date after the current transaction commits.

    ``kind`` is ``app`` (its docs pages follow), ``instance``, ``namespace`` or
    ``component``; ``keys`` are primary keys (component names for components), for
    instance a ``values_list`` queryset: read here and now (so before a delete that
    follows), and not at all when search is off.
    Safe inside a transaction: nothing is sent before commit, and a rollback
    forgets it. A deleted row's key removes its document.
    """
    if kind not in INDEXED_KINDS:
        raise ValueError(f"unknown search kind {kind!r}")
    if not search_enabled():
        return
    unique = sorted({str(key) for key in keys})
    if not unique:
        return
    PendingIndex.objects.bulk_create(PendingIndex(kind=kind, key=key) for key in unique)
    from search.tasks import search_index_task

    # Broker down: the outbox rows stay for the repair task.
    enqueue_on_commit(search_index_task, kind, unique)


def building_targets(kind: str) -> list[str]:
    from django.conf import settings

    building = cache.get(BUILDING_KEY.format(prefix=settings.SEARCH_INDEX_PREFIX)) or {}
    target = building.get(kind)
    return [target] if target else []


def key_chunks(keys: Iterable[str]) -> Iterator[list[str]]:
    """Keys in lists of CHUNK, read as they come (a full load streams its keys)."""
    chunk: list[str] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def bulk_actions(built: Built, targets: dict[str, list[str]]) -> list[dict[str, Any]]:
    actions = []
    for kind, rows in built.docs.items():
        for index in targets[kind]:
            for doc_id, source in rows:
                actions.append({"_index": index, "_id": doc_id, "_source": source})
    return actions


def _targets(kinds: Iterable[str], *, extra_targets: bool = True) -> dict[str, list[str]]:
    return {
        kind: [alias_name(kind), *(building_targets(kind) if extra_targets else [])]
        for kind in kinds
    }


def built_write(
    client: Elasticsearch, built: Built, *, extra_targets: bool = True, delete_stale: bool = True
) -> int:
    """Write documents and remove stale ones, in the alias and any index being built.
    With ``delete_stale`` off the caller removes ``built.stale`` later (stale_delete)."""
    targets = _targets(set(built.docs) | set(built.stale), extra_targets=extra_targets)
    actions = bulk_actions(built, targets)
    if actions:
        helpers.bulk(client, actions, chunk_size=CHUNK, max_retries=2, refresh=False)
    return stale_delete(client, built.stale, extra_targets=extra_targets) if delete_stale else 0


# Elasticsearch refuses a terms query over 65,536 values.
STALE_TERMS = 10_000


def stale_delete(
    client: Elasticsearch,
    stale: dict[str, tuple[str, list[str], list[str]]],
    *,
    extra_targets: bool = True,
) -> int:
    """Delete the documents ``stale`` describes (Built.stale), in slices of keys."""
    targets = _targets(stale, extra_targets=extra_targets)
    # Found by a search, deleted by id: _delete_by_query lives in the reindex
    # module, which a minimal server (the test one) does not have.
    deletes: list[dict[str, Any]] = []
    for kind, (field_name, keys, keep_ids) in stale.items():
        for start in range(0, len(keys), STALE_TERMS):
            query: dict[str, Any] = {
                "bool": {"filter": [{"terms": {field_name: keys[start : start + STALE_TERMS]}}]}
            }
            # A long keep list is applied here rather than as an ids query, which
            # has the same size limit as terms.
            keep = set(keep_ids) if len(keep_ids) > STALE_TERMS else set()
            if keep_ids and not keep:
                query["bool"]["must_not"] = [{"ids": {"values": keep_ids}}]
            for index in targets[kind]:
                deletes.extend(
                    {"_op_type": "delete", "_index": hit["_index"], "_id": hit["_id"]}
                    for hit in _matching(client, index, query)
                    if hit["_id"] not in keep
                )
    if deletes:
        helpers.bulk(client, deletes, chunk_size=CHUNK, raise_on_error=False)
    return len(deletes)


def _merge_stale(
    into: dict[str, tuple[str, list[str], list[str]]],
    more: dict[str, tuple[str, list[str], list[str]]],
) -> None:
    for kind, (field_name, keys, keep_ids) in more.items():
        if not keys:
            continue
        _, all_keys_, all_keep = into.setdefault(kind, (field_name, [], []))
        all_keys_.extend(keys)
        all_keep.extend(keep_ids)


def _matching(client: Elasticsearch, index: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Hits (ids only) of a query: one request, a scroll only when there are many."""
    answer = client.search(index=index, query=query, source=False, size=1000)
    if answer["hits"]["total"]["value"] <= len(answer["hits"]["hits"]):
        return list(answer["hits"]["hits"])
    return list(helpers.scan(client, index=index, query={"query": query, "_source": False}))


def _prepare(kind: str, chunk: list[str]) -> tuple[int | None, Built]:
    newest = PendingIndex.objects.filter(kind=kind, key__in=chunk).aggregate(newest=Max("pk"))
    return newest["newest"], BUILDERS[kind](chunk)


def _prepared(kind: str, chunks: list[list[str]]) -> Iterator[tuple[int | None, Built]]:
    """Each chunk's outbox mark and documents. With several chunks, outside a
    transaction, the next chunk is read from the database in a thread while the
    current one is written (the bulk request mostly waits on the server)."""
    if len(chunks) < 2 or transaction.get_connection().in_atomic_block:
        for chunk in chunks:
            yield _prepare(kind, chunk)
        return

    def prepare(chunk: list[str]) -> tuple[int | None, Built]:
        try:
            return _prepare(kind, chunk)
        finally:
            connection.close()  # the thread's own connection

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-build") as pool:
        future = pool.submit(prepare, chunks[0])
        for following in [*chunks[1:], None]:
            result = future.result()
            if following is not None:
                future = pool.submit(prepare, following)
            yield result


def index_apply(*, kind: str, keys: Iterable[str | int]) -> IndexReport:
    """Index these rows now, in chunks; delete their outbox rows once written.

    1. note the newest outbox row of each chunk first, so a change committed while
       this runs keeps its own row and is indexed again;
    2. build the documents from the database (search.selectors.sources);
    3. bulk-write them, delete documents of rows that are gone;
    4. delete the outbox rows up to the one noted.
    On a search server error the outbox rows stay and the report says failed.
    """
    report = IndexReport()
    all_keys = sorted({str(key) for key in keys})
    if not search_enabled() or not all_keys:
        return report
    client = es_client(timeout=WRITE_TIMEOUT)
    try:
        kinds_fill(client, indices_ensure(client))
    except UNAVAILABLE as exc:
        log.warning(
            "search: index unavailable, %d %s(s) left pending: %s", len(all_keys), kind, exc
        )
        report.failed = True
        return report
    chunks = list(key_chunks(all_keys))
    # Stale documents (an app's removed docs pages) are looked for once at the end,
    # not per chunk: one search per chunk cost a fifth of a large load. The outbox
    # rows go only after that, so a failure leaves every key pending.
    stale: dict[str, tuple[str, list[str], list[str]]] = {}
    written: list[tuple[list[str], int]] = []
    try:
        for chunk, (newest, built) in zip(chunks, _prepared(kind, chunks), strict=True):
            built_write(client, built, delete_stale=False)
            _merge_stale(stale, built.stale)
            report.indexed += built.count()
            if newest is not None:
                written.append((chunk, newest))
        report.deleted += stale_delete(client, stale)
    except (*UNAVAILABLE, helpers.BulkIndexError) as exc:
        log.warning("search: indexing %d %s(s) failed, left pending: %s", len(all_keys), kind, exc)
        report.failed = True
        return report
    for chunk, newest in written:
        PendingIndex.objects.filter(kind=kind, key__in=chunk, pk__lte=newest).delete()
    return report


def kinds_fill(client: Elasticsearch, kinds: Iterable[str]) -> int:
    """Load every row of these kinds (indexes just created empty on first use)."""
    written = 0
    # App docs pages are loaded with their apps.
    for kind in sorted({"app" if kind == "appdoc" else kind for kind in kinds}):
        for keys in key_chunks(all_keys(kind)):
            built = BUILDERS[kind](keys)
            built_write(client, built)
            written += built.count()
    return written


def pending_repair(*, limit: int = 5000) -> dict[str, IndexReport]:
    """Index what the outbox still holds: keys whose task failed or never ran."""
    reports: dict[str, IndexReport] = {}
    for kind in INDEXED_KINDS:
        keys = list(
            PendingIndex.objects.filter(kind=kind)
            .order_by("key")
            .values_list("key", flat=True)
            .distinct()[:limit]
        )
        if keys:
            reports[kind] = index_apply(kind=kind, keys=keys)
            if reports[kind].failed:
                break
    return reports


COMPONENTS_SEEN_KEY = "search:components:{prefix}"


def components_refresh() -> IndexReport | None:
    """Index the UI component docs again when their files changed (a deploy), and
    drop the documents of removed ones. The files are not rows: no write calls
    index_later for them, so the periodic repair task calls this."""
    from django.conf import settings

    from portal.components import component_names, docs_dir

    names = component_names()
    stamp = [(name, (docs_dir() / f"{name}.md").stat().st_mtime_ns) for name in names]
    seen_key = COMPONENTS_SEEN_KEY.format(prefix=settings.SEARCH_INDEX_PREFIX)
    if cache.get(seen_key) == stamp:
        return None
    client = es_client(timeout=WRITE_TIMEOUT)
    indexed = _matching(client, alias_name("component"), {"match_all": {}})
    report = index_apply(kind="component", keys=[*names, *(hit["_id"] for hit in indexed)])
    if not report.failed:
        cache.set(seen_key, stamp, None)
    return report


def empty_fill() -> list[str]:
    """Load kinds whose index is empty while the database has rows: indexes created
    on first use by a search whose loading task could not be queued."""
    client = es_client(timeout=WRITE_TIMEOUT)
    empty = [
        kind
        for kind in INDEXED_KINDS
        if client.count(index=alias_name(kind))["count"] == 0 and kind_has_rows(kind)
    ]
    kinds_fill(client, empty)
    return empty
