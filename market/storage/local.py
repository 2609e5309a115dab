"""A market in a local directory (or on a shared file system mounted as one).

Atomicity comes from the file system, not from care:

- every write goes to a temp file in the destination directory, is fsynced, and only
  then gets the final name, so a reader (or a crash, or ``kill -9``) never leaves a
  partial object under a key; at worst a ``.<name>.<random>.tmp`` file stays behind;
- create-only is ``os.link(tmp, final)``, which fails when ``final`` exists, in one
  system call, against any other writer;
- compare-and-swap holds an exclusive ``flock`` on a per-key lock file under
  ``<root>/.locks/`` while it compares the current content's sha256 with the expected
  ETag and ``os.replace``-s the temp file over the key.

ETags are the sha256 of the content, so they stay correct across processes, hosts
and restarts (a modification time could repeat or move backwards). So
``get_if_changed`` reads and hashes the file: market documents are small, and a
stat-based shortcut would trade that for a wrong answer now and then. ``flock`` works
between processes on one host and, on Linux NFS v4 clients, across hosts; a shared
file system without working locks must not be used for writing.
"""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from guards.locks import LockError, LockTimeout, exclusive_lock
from market.storage.base import (
    AlreadyExists,
    Blob,
    MarketStorage,
    NotFound,
    PreconditionFailed,
    StorageError,
    TransientStorageError,
    UnsafeLocation,
)

LOCK_DIR = ".locks"
LOCK_TIMEOUT_SECONDS = 30.0


def content_etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync(fd: int) -> None:
    # One place to intercept in tests that kill a writer between write and rename.
    os.fsync(fd)


class LocalStorage(MarketStorage):
    def __init__(self, root: str | os.PathLike[str], *, writable: bool = False) -> None:
        super().__init__(writable=writable)
        self.root = Path(os.path.abspath(root))
        self._real_root = os.path.realpath(self.root)

    def describe(self) -> str:
        return f"local directory {self.root}"

    # --- reads --------------------------------------------------------------

    def _get(self, key: str) -> Blob:
        self._count_request()
        data = self._read(key)
        return Blob(data=data, etag=content_etag(data))

    def _get_if_changed(self, key: str, etag: str) -> Blob | None:
        blob = self._get(key)
        return None if blob.etag == etag else blob

    def _exists(self, key: str) -> bool:
        self._count_request()
        return self._path(key).is_file()

    # --- writes -------------------------------------------------------------

    def _put_new(self, key: str, data: bytes, content_type: str) -> str:
        self._count_request()
        path = self._path(key)
        tmp = self._write_temp(path, data)
        try:
            self._link_new(tmp, path, key)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return content_etag(data)

    def _put_if_match(self, key: str, data: bytes, etag: str | None, content_type: str) -> str:
        self._count_request()
        path = self._path(key)
        with self._lock(key):
            try:
                current: str | None = content_etag(self._read(key))
            except NotFound:
                current = None
            if current != etag:
                raise PreconditionFailed(
                    f"{key} changed since it was read ({_etag_state(etag)} expected, "
                    f"{_etag_state(current)} found)"
                )
            tmp = self._write_temp(path, data)
            try:
                if etag is None:
                    # Create-only even under the lock: put_new does not take it.
                    try:
                        self._link_new(tmp, path, key)
                    except AlreadyExists:
                        raise PreconditionFailed(f"{key} appeared since it was read") from None
                else:
                    os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(path.parent)
        return content_etag(data)

    def _delete(self, key: str) -> None:
        self._count_request()
        with self._lock(key):
            try:
                self._path(key).unlink(missing_ok=True)
            except NotADirectoryError:
                pass  # a parent is a file: the key cannot exist
            except OSError as error:
                raise StorageError(f"cannot delete {key}: {error.strerror}") from None
        self._prune_empty_folders(self._path(key).parent)

    def _prune_empty_folders(self, folder: Path) -> None:
        """Remove ``folder`` and its parents up to the root while empty, as an object
        store keeps no folders: the write probe left ``.probe/<uuid>/`` behind in
        every market it checked. Only the probe deletes, under a prefix no market
        writer uses, so no writer is creating a file in a folder removed here."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or already gone): its parents are not empty either
            folder = folder.parent

    # --- helpers ------------------------------------------------------------

    def _path(self, key: str) -> Path:
        if key.split("/", 1)[0] == LOCK_DIR:
            raise StorageError(f"storage key {key!r} is reserved for lock files")
        path = self.root / key
        # A symlink inside the tree must not lead reads or writes outside it.
        real = os.path.realpath(path)
        if not real.startswith(self._real_root + os.sep):
            raise UnsafeLocation(f"storage key {key!r} resolves outside {self.root}")
        return path

    def _read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{key} not found in {self.describe()}") from None
        except IsADirectoryError:
            raise StorageError(f"{key} is a directory in {self.describe()}") from None
        except OSError as error:
            raise StorageError(f"cannot read {key}: {error.strerror}") from None

    def _write_temp(self, path: Path, data: bytes) -> Path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as error:
            raise StorageError(f"cannot write in {path.parent}: {error.strerror}") from None
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            _fsync(fd)
        except BaseException as error:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            if isinstance(error, OSError):
                raise StorageError(f"cannot write {path.name}: {error.strerror}") from None
            raise
        os.close(fd)
        return tmp

    def _link_new(self, tmp: Path, path: Path, key: str) -> None:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise AlreadyExists(f"{key} already exists in {self.describe()}") from None
        except OSError as error:
            if error.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise StorageError(
                    f"{self.root} does not support hard links, which create-only writes need"
                ) from None
            raise StorageError(f"cannot create {key}: {error.strerror}") from None

    @contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        """The per-key lock of compare-and-swap (``guards.locks``); a timeout is
        transient: the writer holding it finishes, a retry gets it."""
        name = hashlib.sha256(key.encode("utf-8")).hexdigest() + ".lock"
        try:
            with exclusive_lock(self.root / LOCK_DIR / name, timeout=LOCK_TIMEOUT_SECONDS):
                yield
        except LockTimeout:
            raise TransientStorageError(
                f"timed out after {LOCK_TIMEOUT_SECONDS:.0f}s waiting for the lock on {key}"
            ) from None
        except LockError as error:
            raise StorageError(f"cannot lock {key}: {error}") from None


def _fsync_dir(directory: Path) -> None:
    # Makes the new name itself durable, not only the file's bytes.
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _etag_state(etag: str | None) -> str:
    return "no object" if etag is None else f"ETag {etag[:16]}"
