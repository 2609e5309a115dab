"""Proof that a store enforces conditional writes, before a market on it is opened for
writing (SPEC section 3). A store that ignores ``If-None-Match`` / ``If-Match`` would
accept every write and silently lose concurrent updates; only trying tells."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from market.storage.base import (
    AlreadyExists,
    MarketStorage,
    NotFound,
    PreconditionFailed,
    StorageError,
)

PROBE_PREFIX = ".probe"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)


def probe_conditional_writes(storage: MarketStorage) -> ProbeResult:
    """Check create-only and compare-and-swap under ``.probe/<uuid>/``, then clean up.

    Steps:

    1. ``put_new`` a key, then ``put_new`` it again: the second must raise
       ``AlreadyExists`` and leave the first content;
    2. ``put_if_match(etag=None)`` a second key, then again: the repeat must raise
       ``PreconditionFailed``;
    3. ``put_if_match`` with the current ETag must succeed; then with the stale one
       it must raise ``PreconditionFailed`` and leave the content alone;
    4. delete both keys (a failure to delete is reported but does not fail the probe).

    ``ok`` is true only if every check held; ``reasons`` says what did not.
    """
    if not storage.writable:
        return ProbeResult(ok=False, reasons=(f"{storage.describe()} is not writable",))
    base = f"{PROBE_PREFIX}/{uuid.uuid4().hex}"
    create_key, swap_key = f"{base}/create-only", f"{base}/compare-and-swap"
    reasons: list[str] = []
    try:
        _probe_create_only(storage, create_key, reasons)
        _probe_compare_and_swap(storage, swap_key, reasons)
    except StorageError as error:
        reasons.append(f"probe could not complete: {error}")
    failed = bool(reasons)
    for key in (create_key, swap_key):
        try:
            storage.delete(key)
        except StorageError as error:
            reasons.append(f"could not remove probe object {key}: {error}")
    return ProbeResult(ok=not failed, reasons=tuple(reasons))


def _probe_create_only(storage: MarketStorage, key: str, reasons: list[str]) -> None:
    storage.put_new(key, b"first")
    try:
        storage.put_new(key, b"second")
    except AlreadyExists:
        pass
    else:
        reasons.append("create-only write not enforced: a second put_new of one key succeeded")
    if storage.get(key).data != b"first":
        reasons.append("create-only write not enforced: the first object was overwritten")


def _probe_compare_and_swap(storage: MarketStorage, key: str, reasons: list[str]) -> None:
    first = storage.put_if_match(key, b"v1", None)
    try:
        storage.put_if_match(key, b"v1-again", None)
    except PreconditionFailed:
        pass
    else:
        reasons.append("'must not exist' write not enforced: it replaced an existing object")
        first = storage.get(key).etag
    try:
        second = storage.put_if_match(key, b"v2", first)
    except PreconditionFailed:
        reasons.append("compare-and-swap with the current ETag was refused")
        return
    try:
        storage.put_if_match(key, b"v3", first)
    except PreconditionFailed:
        pass
    else:
        reasons.append("compare-and-swap not enforced: a write with a stale ETag succeeded")
    try:
        blob = storage.get(key)
    except NotFound:
        reasons.append("compare-and-swap object vanished")
        return
    if blob.data != b"v2" or blob.etag != second:
        reasons.append("compare-and-swap object does not hold the last accepted write")
