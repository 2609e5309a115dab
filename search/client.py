"""The Elasticsearch connection, index names and index creation.

Each kind lives in a timestamped index ``<prefix>-<kind>-<stamp>`` that readers and
writers reach through the alias ``<prefix>-<kind>``; a rebuild loads new indexes
and swaps the aliases (search.services.rebuild).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from search.documents import KINDS, index_body

log = logging.getLogger(__name__)

# Bulk writes run in workers and carry more data.
WRITE_TIMEOUT = 30.0

# Errors that mean "the search server cannot answer now", as opposed to a bug.
UNAVAILABLE = (TransportError, ApiError)

_lock = threading.Lock()
_clients: dict[tuple[str, float], Elasticsearch] = {}
_ensured: set[str] = set()
_capabilities: dict[str, Capabilities] = {}


@dataclass(frozen=True)
class Capabilities:
    cjk: bool
    stemmer: bool


def search_enabled() -> bool:
    return settings.SEARCH_BACKEND == "elasticsearch" and bool(settings.ELASTICSEARCH_URL)


def es_client(*, timeout: float | None = None) -> Elasticsearch:
    """A client for the configured server; one per URL and timeout per process.
    Without a timeout, the short one for searches (settings.SEARCH_TIMEOUT_MS): a
    search that would wait longer is answered from the database instead."""
    url = str(settings.ELASTICSEARCH_URL)
    if timeout is None:
        timeout = settings.SEARCH_TIMEOUT_MS / 1000
    key = (url, timeout)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = Elasticsearch(url, request_timeout=timeout, max_retries=0)
            _clients[key] = client
        return client


def alias_name(kind: str, *, prefix: str | None = None) -> str:
    return f"{prefix or settings.SEARCH_INDEX_PREFIX}-{kind}"


def all_aliases(kinds: tuple[str, ...] | list[str] = KINDS) -> str:
    return ",".join(alias_name(kind) for kind in kinds)


# The stamp of the index a kind gets on first use: older than any rebuild's.
FIRST_STAMP = "00000000000000000000"


def new_index_name(kind: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    return f"{alias_name(kind)}-{stamp}"


def capabilities(client: Elasticsearch) -> Capabilities:
    """What the server's analysis offers: probed once per server and process."""
    url = str(settings.ELASTICSEARCH_URL)
    found = _capabilities.get(url)
    if found is None:
        found = Capabilities(
            cjk=_analyzes(client, {"analyzer": "cjk", "text": "中文"}),
            stemmer=_analyzes(
                client, {"tokenizer": "standard", "filter": ["porter_stem"], "text": "runs"}
            ),
        )
        _capabilities[url] = found
    return found


def _analyzes(client: Elasticsearch, body: dict[str, Any]) -> bool:
    try:
        client.indices.analyze(body=body)
    except NotFoundError:
        return False
    except ApiError as exc:
        if exc.status_code == 400:  # "failed to find global analyzer [cjk]"
            return False
        raise
    return True


def index_create(client: Elasticsearch, kind: str, name: str, *, alias: str | None = None) -> None:
    caps = capabilities(client)
    body = index_body(kind, cjk=caps.cjk, stemmer=caps.stemmer)
    if alias:
        body["aliases"] = {alias: {}}
    client.indices.create(index=name, body=body)


def indices_ensure(client: Elasticsearch | None = None) -> list[str]:
    """Create the index and alias of every kind that has none (first use).

    Returns the kinds created, which are then empty: the caller loads them.
    The first index of a kind has a fixed name and is created with its alias in
    one request, so two processes racing here cannot both create one: the loser
    gets "already exists" and uses the winner's.
    """
    prefix = str(settings.SEARCH_INDEX_PREFIX)
    if prefix in _ensured:
        return []
    client = client or es_client(timeout=WRITE_TIMEOUT)
    created = []
    for kind in KINDS:
        alias = alias_name(kind)
        if client.indices.exists_alias(name=alias):
            continue
        first = f"{alias}-{FIRST_STAMP}"
        try:
            index_create(client, kind, first, alias=alias)
        except ApiError as exc:
            if exc.error != "resource_already_exists_exception":
                raise
            # Another process won the race (the alias is there: a no-op), or the
            # alias was removed by hand from the index it named: put it back.
            client.indices.put_alias(index=first, name=alias)
            continue
        created.append(kind)
    _ensured.add(prefix)
    return created


def forget_ensured() -> None:
    """Make the next indices_ensure look again (after indexes were dropped)."""
    _ensured.clear()


def alias_targets(client: Elasticsearch, kind: str) -> list[str]:
    try:
        found = client.indices.get_alias(name=alias_name(kind))
    except NotFoundError:
        return []
    return sorted(found.body)
