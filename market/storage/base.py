"""The storage interface every market backend implements (SPEC section 3).

A market is a handful of objects under one root: ``market.json``,
``apps/<name>/index.json`` and immutable ``apps/<name>/<name>-<version>.tgz``. Writers
never overwrite blindly: archives are created with :meth:`MarketStorage.put_new`
(create-only) and the JSON documents are replaced with
:meth:`MarketStorage.put_if_match` (compare-and-swap on the ETag read before).
:func:`market.storage.cas.update_json` wraps the read-modify-write loop.

Backends: :class:`~market.storage.local.LocalStorage` (a directory),
:class:`~market.storage.s3.S3Storage` (S3 and S3-compatible stores) and
:class:`~market.storage.http.HttpStorage` (read-only HTTP(S)).
:func:`~market.storage.factory.open_storage` picks one from a location string.

ETags are opaque strings: compare them for equality, hand them back to the same
backend, never parse them.
"""

from __future__ import annotations

import abc
import threading
from dataclasses import dataclass

from guards.paths import UnsafePath, safe_relative_path, shown_path

# S3 refuses keys over 1,024 bytes; no market key comes close.
MAX_KEY_BYTES = 1024


class StorageError(Exception):
    """Base of every storage failure. ``str(error)`` is one line, safe to show."""


class NotFound(StorageError):
    """The key does not exist."""


class AlreadyExists(StorageError):
    """``put_new`` found the key already there; nothing was written."""


class PreconditionFailed(StorageError):
    """``put_if_match`` found another ETag (or none) than expected; nothing was written."""


class TransientStorageError(StorageError):
    """The backend kept failing (5xx, throttling, timeouts) after every retry."""


class ReadOnlyStorage(StorageError):
    """A write was attempted on storage opened read-only, or that cannot be written."""


class UnsafeLocation(StorageError):
    """A URL or address the network guard refuses (SSRF protection), or a key that
    would leave the market root."""


@dataclass(frozen=True)
class Blob:
    """An object's bytes and the ETag they were read under."""

    data: bytes
    etag: str


def validate_key(key: str) -> str:
    """Return ``key`` when it is a safe relative slash path (``guards.paths``), else
    raise ``StorageError``.

    Every backend maps keys below its root, so a key must not be able to climb out
    of it or be read differently by two backends.
    """
    try:
        safe_relative_path(key, max_bytes=MAX_KEY_BYTES)
    except UnsafePath as error:
        shown = shown_path(key) if isinstance(key, str) else repr(key)
        raise StorageError(f"storage key {shown!r}: {error.reason}") from None
    return key


def guess_content_type(key: str) -> str:
    if key.endswith(".json"):
        return "application/json"
    if key.endswith(".tgz") or key.endswith(".tar.gz"):
        return "application/gzip"
    return "application/octet-stream"


class MarketStorage(abc.ABC):
    """A market root on some storage: get, create-only put, compare-and-swap put.

    The public methods validate keys and refuse writes on read-only storage, then
    call the backend's ``_get`` / ``_put_new`` / ... with a validated key, so no
    backend can forget either check.

    ``request_count`` counts round trips to the backend (HTTP requests, including
    retries and redirect hops; one per operation on a local directory), so a sync
    can report what it cost. Thread-safe.
    """

    writable: bool

    def __init__(self, *, writable: bool) -> None:
        self.writable = writable
        self._request_count = 0
        self._count_lock = threading.Lock()

    # --- the interface ------------------------------------------------------

    def get(self, key: str) -> Blob:
        """The object's bytes and ETag. Raises ``NotFound``."""
        return self._get(validate_key(key))

    def get_if_changed(self, key: str, etag: str | None) -> Blob | None:
        """The object if its ETag is no longer ``etag``, else ``None`` (not modified).

        With ``etag=None`` this is :meth:`get`. Raises ``NotFound``.
        """
        key = validate_key(key)
        if etag is None:
            return self._get(key)
        return self._get_if_changed(key, etag)

    def put_new(self, key: str, data: bytes, *, content_type: str | None = None) -> str:
        """Create the object; return its ETag. Raises ``AlreadyExists`` if the key exists.

        Atomic: readers see no object or the whole object, never part of it.
        """
        key = validate_key(key)
        self._require_writable()
        return self._put_new(key, bytes(data), content_type or guess_content_type(key))

    def put_if_match(
        self, key: str, data: bytes, etag: str | None, *, content_type: str | None = None
    ) -> str:
        """Replace the object only if its current ETag is ``etag``; return the new ETag.

        ``etag=None`` means "only if the key does not exist yet". Raises
        ``PreconditionFailed`` when the object changed (or appeared, or vanished)
        since ``etag`` was read; nothing is written then.
        """
        key = validate_key(key)
        self._require_writable()
        return self._put_if_match(key, bytes(data), etag, content_type or guess_content_type(key))

    def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error. Only the write probe needs
        this: market writers never delete."""
        key = validate_key(key)
        self._require_writable()
        self._delete(key)

    def exists(self, key: str) -> bool:
        return self._exists(validate_key(key))

    @property
    def request_count(self) -> int:
        return self._request_count

    @abc.abstractmethod
    def describe(self) -> str:
        """Where this storage is, for people: never includes credentials."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"

    # --- for backends -------------------------------------------------------

    def _count_request(self) -> None:
        with self._count_lock:
            self._request_count += 1

    def _require_writable(self) -> None:
        if not self.writable:
            raise ReadOnlyStorage(f"{self.describe()} is opened read-only")

    @abc.abstractmethod
    def _get(self, key: str) -> Blob: ...

    @abc.abstractmethod
    def _get_if_changed(self, key: str, etag: str) -> Blob | None: ...

    @abc.abstractmethod
    def _put_new(self, key: str, data: bytes, content_type: str) -> str: ...

    @abc.abstractmethod
    def _put_if_match(self, key: str, data: bytes, etag: str | None, content_type: str) -> str: ...

    @abc.abstractmethod
    def _delete(self, key: str) -> None: ...

    @abc.abstractmethod
    def _exists(self, key: str) -> bool: ...
