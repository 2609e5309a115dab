"""What only a local directory needs proving: atomicity against kill -9 and concurrent
readers, lock files, and keys that must not lead outside the market root."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from market.storage import StorageError, UnsafeLocation
from market.storage.local import LocalStorage, content_etag
from tests.market.storage_fixtures import write_and_hang_before_rename


def _kill_mid_write(root: Path, key: str, mode: str) -> None:
    marker = root.parent / "writing"
    context = multiprocessing.get_context("spawn")
    child = context.Process(
        target=write_and_hang_before_rename, args=(str(root), key, mode, str(marker))
    )
    child.start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert child.is_alive(), "writer died before writing"
        assert time.monotonic() < deadline, "writer never got to the temp file"
        time.sleep(0.02)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL


@pytest.mark.slow
def test_a_writer_killed_mid_put_new_leaves_no_object(tmp_path: Path) -> None:
    root = tmp_path / "market"
    key = "apps/x/x-1.0.0.tgz"

    _kill_mid_write(root, key, "put_new")

    storage = LocalStorage(root, writable=True)
    assert storage.exists(key) is False
    leftovers = [p.name for p in (root / "apps/x").iterdir()]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # never under the key
    storage.put_new(key, b"complete")
    assert storage.get(key).data == b"complete"


@pytest.mark.slow
def test_a_writer_killed_mid_swap_leaves_the_old_object_and_frees_the_lock(
    tmp_path: Path,
) -> None:
    root = tmp_path / "market"
    storage = LocalStorage(root, writable=True)
    etag = storage.put_new("market.json", b'{"serial": 1}')

    _kill_mid_write(root, "market.json", "put_if_match")

    assert storage.get("market.json").data == b'{"serial": 1}'
    started = time.monotonic()
    storage.put_if_match("market.json", b'{"serial": 2}', etag)
    assert time.monotonic() - started < 5  # the kernel dropped the dead writer's flock
    assert storage.get("market.json").data == b'{"serial": 2}'


def test_readers_only_ever_see_whole_objects(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, writable=True)
    versions = [bytes([n]) * 2_000_000 for n in range(4)]
    etag = storage.put_new("apps/x/index.json", versions[0])
    seen: set[bytes] = set()
    stop = threading.Event()
    torn: list[int] = []

    def read() -> None:
        while not stop.is_set():
            data = storage.get("apps/x/index.json").data
            if data not in versions:
                torn.append(len(data))
            seen.add(data[:1])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_ in range(20):
            etag = storage.put_if_match("apps/x/index.json", versions[round_ % 4], etag)
    finally:
        stop.set()
        reader.join()
    assert torn == []
    assert len(seen) > 1


def test_etag_is_the_content_sha256(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, writable=True)
    assert storage.put_new("a.json", b"{}") == content_etag(b"{}")
    # Same bytes written by anyone, any time: same ETag, so compare-and-swap holds.
    (tmp_path / "b.json").write_bytes(b"{}")
    assert storage.get("b.json").etag == content_etag(b"{}")


def test_a_symlink_cannot_lead_outside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    root = tmp_path / "market"
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "evil").symlink_to(outside)
    storage = LocalStorage(root, writable=True)

    with pytest.raises(UnsafeLocation):
        storage.get("apps/evil/secret")
    with pytest.raises(UnsafeLocation):
        storage.put_new("apps/evil/planted", b"x")
    assert not (outside / "planted").exists()


def test_lock_files_are_not_keys(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, writable=True)
    storage.put_if_match("market.json", b"{}", None)
    assert any((tmp_path / ".locks").iterdir())

    with pytest.raises(StorageError):
        storage.get(".locks/anything")


def test_a_directory_under_a_key_is_an_error_not_an_object(tmp_path: Path) -> None:
    (tmp_path / "apps" / "x").mkdir(parents=True)
    storage = LocalStorage(tmp_path)
    with pytest.raises(StorageError, match="directory"):
        storage.get("apps/x")
    assert storage.exists("apps/x") is False


def test_files_are_written_readable_for_a_web_server(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        LocalStorage(tmp_path, writable=True).put_new("market.json", b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "market.json").stat().st_mode & 0o777 == 0o644
