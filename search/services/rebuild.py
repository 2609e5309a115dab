"""Full rebuilds with no downtime, and removal of the indexes they leave behind."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from elasticsearch import Elasticsearch, NotFoundError, helpers

from search.client import (
    WRITE_TIMEOUT,
    alias_name,
    alias_targets,
    es_client,
    forget_ensured,
    index_create,
    new_index_name,
)
from search.documents import KINDS
from search.selectors.sources import BUILDERS, all_keys
from search.services.indexing import BUILDING_KEY, CHUNK, bulk_actions, key_chunks

log = logging.getLogger(__name__)

LOCK_KEY = "search:rebuild-lock:{prefix}"
LOCK_SECONDS = 3600
# Old indexes stay this long after a swap: searches that resolved the alias
# just before it moved still find their index.
GRACE_SECONDS = 300


class RebuildRunning(RuntimeError):
    pass


@dataclass
class RebuildReport:
    indexes: dict[str, str] = field(default_factory=dict)
    documents: int = 0
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def search_rebuild(
    *, grace_seconds: int | None = None, progress: Callable[[str], None] | None = None
) -> RebuildReport:
    """Rebuild every index from the database while searches and writes go on.

    1. take the rebuild lock (a cache key added atomically), so two rebuilds
       cannot interleave; a second one raises RebuildRunning;
    2. remove indexes left by earlier rebuilds once their grace period is over;
    3. create a timestamped index per kind and publish their names, so that
       indexing tasks write changes to them as well as to the live aliases;
    4. load every row, in chunks, into the new indexes;
    5. refresh them and move every alias in one atomic request;
    6. unpublish the names and release the lock. The old indexes are deleted by
       a later cleanup, after the grace period.
    """
    started = time.monotonic()
    report = RebuildReport()
    prefix = str(settings.SEARCH_INDEX_PREFIX)
    lock_key = LOCK_KEY.format(prefix=prefix)
    token = uuid.uuid4().hex
    if not cache.add(lock_key, token, LOCK_SECONDS):
        raise RebuildRunning("another search rebuild is running")
    client = es_client(timeout=WRITE_TIMEOUT)
    building_key = BUILDING_KEY.format(prefix=prefix)
    try:
        grace = GRACE_SECONDS if grace_seconds is None else grace_seconds
        report.removed = indices_cleanup(client, grace_seconds=grace)
        new = {kind: new_index_name(kind) for kind in KINDS}
        for kind, name in new.items():
            index_create(client, kind, name)
        report.indexes = new
        cache.set(building_key, new, LOCK_SECONDS)
        for kind in BUILDERS:
            report.documents += _load(client, kind, new, progress)
        client.indices.refresh(index=",".join(new.values()))
        _swap(client, new)
        forget_ensured()
    except BaseException:
        cache.delete(building_key)
        for name in report.indexes.values():
            client.indices.delete(index=name, ignore_unavailable=True)
        raise
    finally:
        if cache.get(lock_key) == token:
            cache.delete(lock_key)
    cache.delete(building_key)
    report.seconds = time.monotonic() - started
    return report


def _load(
    client: Elasticsearch,
    kind: str,
    new: dict[str, str],
    progress: Callable[[str], None] | None,
) -> int:
    written = 0
    for keys in key_chunks(all_keys(kind)):
        # Straight into the new indexes (a new index holds nothing stale); the
        # live aliases get the changes made meanwhile from the indexing tasks.
        built = BUILDERS[kind](keys)
        actions = bulk_actions(built, {doc_kind: [new[doc_kind]] for doc_kind in built.docs})
        helpers.bulk(client, actions, chunk_size=CHUNK, max_retries=2)
        written += len(actions)
    if progress:
        progress(f"{kind}: {written} documents")
    return written


def _swap(client: Elasticsearch, new: dict[str, str]) -> None:
    actions: list[dict[str, object]] = []
    for kind, name in new.items():
        alias = alias_name(kind)
        for old in alias_targets(client, kind):
            actions.append({"remove": {"index": old, "alias": alias}})
        actions.append({"add": {"index": name, "alias": alias}})
    client.indices.update_aliases(body={"actions": actions})


def indices_cleanup(client: Elasticsearch, *, grace_seconds: int = GRACE_SECONDS) -> list[str]:
    """Delete this prefix's indexes that no alias points to and that are older
    than the grace period. Indexes being built by a rebuild are never touched:
    they are newer than any grace period used while the rebuild lock is held."""
    removed = []
    now_ms = time.time() * 1000
    live = set()
    for kind in KINDS:
        live.update(alias_targets(client, kind))
    building_key = BUILDING_KEY.format(prefix=settings.SEARCH_INDEX_PREFIX)
    building = set((cache.get(building_key) or {}).values())
    for kind in KINDS:
        pattern = f"{alias_name(kind)}-*"
        try:
            found = client.indices.get_settings(index=pattern, name="index.creation_date")
        except NotFoundError:
            continue
        for name, body in found.body.items():
            if name in live or name in building:
                continue
            created = int(body["settings"]["index"]["creation_date"])
            if now_ms - created >= grace_seconds * 1000:
                client.indices.delete(index=name, ignore_unavailable=True)
                removed.append(name)
    return sorted(removed)
