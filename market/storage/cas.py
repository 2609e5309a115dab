"""Read-modify-write of a JSON document by compare-and-swap: how ``index.json`` and
``market.json`` are updated, so that any number of writers lose nothing."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from market.storage.base import MarketStorage, NotFound, PreconditionFailed, StorageError

JsonDoc = dict[str, Any]


class ConflictRetriesExhausted(StorageError):
    """Every attempt of ``update_json`` lost the race to another writer."""


def dump_json(doc: JsonDoc) -> bytes:
    """A readable, stable serialisation (sorted keys). A digest of a stored document
    must be taken over the bytes stored, so use the same function for both."""
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def load_json(data: bytes, *, key: str) -> JsonDoc:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StorageError(f"{key} is not valid JSON: {error}") from None
    if not isinstance(doc, dict):
        raise StorageError(f"{key} is not a JSON object")
    return doc


def update_json(
    storage: MarketStorage,
    key: str,
    mutate: Callable[[JsonDoc | None], JsonDoc],
    *,
    attempts: int = 10,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    serialize: Callable[[JsonDoc], bytes] = dump_json,
) -> tuple[JsonDoc, str]:
    """Apply ``mutate`` to the document at ``key`` and store the result atomically.

    Steps, repeated up to ``attempts`` times:

    1. read the document and its ETag (``None`` and no ETag when it does not exist);
    2. call ``mutate(doc)``; it returns the new document (it may change ``doc`` in
       place and return it). It can be called several times, each time with a fresh
       read, so it must not have side effects; raising aborts the update;
    3. if the result equals what was read, write nothing and return it;
    4. ``put_if_match`` with the ETag from step 1; on ``PreconditionFailed`` another
       writer got in first: wait a jittered, growing delay and start again.

    ``serialize`` turns the document into the bytes stored (default :func:`dump_json`).
    Returns ``(document, etag)`` as stored. Raises ``ConflictRetriesExhausted`` when
    every attempt lost, and ``StorageError`` when the stored document is not a JSON
    object.
    """
    for attempt in range(attempts):
        try:
            blob = storage.get(key)
        except NotFound:
            current, before, etag = None, None, None
        else:
            current = load_json(blob.data, key=key)
            before = load_json(blob.data, key=key)  # mutate may change `current` in place
            etag = blob.etag
        doc = mutate(current)
        if not isinstance(doc, dict):
            raise TypeError(f"mutate must return a dict, not {type(doc).__name__}")
        if etag is not None and doc == before:
            return doc, etag
        try:
            return doc, storage.put_if_match(key, serialize(doc), etag)
        except PreconditionFailed:
            if attempt + 1 < attempts:
                sleep(random.uniform(0, min(max_delay, base_delay * 2**attempt)))
    raise ConflictRetriesExhausted(
        f"gave up updating {key} after {attempts} attempts: other writers kept changing it"
    )
