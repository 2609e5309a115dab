"""Content-addressed package cache ("cache acceleration").

Archives are kept under PACKAGE_CACHE_DIR/<aa>/<sha256>, verified against their
digest on every read, and evicted least-recently-used when the total passes
PACKAGE_CACHE_MAX_BYTES. The file's mtime is its last use: reads touch it.
Writes go through a temp file and an atomic rename, so a reader never sees a
partial archive and concurrent writers of the same digest are harmless.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings


class CacheCorrupt(Exception):
    pass


def _hex(digest: str) -> str:
    value = digest.removeprefix("sha256:")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return value


def _root() -> Path:
    return Path(settings.PACKAGE_CACHE_DIR)


def _path(digest: str) -> Path:
    hexd = _hex(digest)
    return _root() / hexd[:2] / hexd


def cache_get(digest: str) -> bytes | None:
    """The archive with this digest, or None. A file that no longer matches its
    digest (disk corruption, tampering) is removed and reported as missing."""
    path = _path(digest)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if hashlib.sha256(data).hexdigest() != _hex(digest):
        path.unlink(missing_ok=True)
        return None
    os.utime(path)
    return data


def cache_put(digest: str, data: bytes) -> Path:
    if hashlib.sha256(data).hexdigest() != _hex(digest):
        raise CacheCorrupt(f"data does not match {digest}")
    path = _path(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    cache_evict(keep=path)
    return path


def cache_evict(*, keep: Path | None = None, max_bytes: int | None = None) -> int:
    """Remove least-recently-used archives until the total fits. Returns bytes freed."""
    limit = settings.PACKAGE_CACHE_MAX_BYTES if max_bytes is None else max_bytes
    entries = []
    total = 0
    for path in _root().glob("??/*"):
        if path.name.startswith(".tmp-"):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        entries.append((stat.st_mtime_ns, stat.st_size, path))
        total += stat.st_size
    freed = 0
    for _mtime, size, path in sorted(entries):
        if total <= limit:
            break
        if keep is not None and path == keep:
            continue
        path.unlink(missing_ok=True)
        total -= size
        freed += size
    return freed
