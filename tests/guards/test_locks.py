"""The one file lock (guards.locks), between real processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guards.locks import LockError, LockTimeout, exclusive_lock
from tests.guards.lock_holder import hold


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Any, Any, Path]]:
    """Another process holding the lock at tmp_path/locks/a.lock."""
    context = multiprocessing.get_context("spawn")
    holding, release = context.Event(), context.Event()
    path = tmp_path / "locks" / "a.lock"
    process = context.Process(target=hold, args=(str(path), holding, release))
    process.start()
    assert holding.wait(30), "the holder never got the lock"
    yield process, release, path
    # Not for a holder killed by the test: it died asleep in release.wait(), and
    # Event.set() would wait for it to wake forever (the run hung here now and then).
    if process.is_alive():
        release.set()
    process.join(30)
    if process.is_alive():
        process.kill()


def test_a_lock_held_by_another_process_times_out(holder: tuple[Any, Any, Path]) -> None:
    _, _, path = holder
    started = time.monotonic()

    with pytest.raises(LockTimeout) as timed_out, exclusive_lock(path, timeout=0.3):
        pytest.fail("got a lock another process holds")

    assert time.monotonic() - started >= 0.3
    assert timed_out.value.path == path and "0s" in str(timed_out.value)


def test_the_lock_is_free_once_the_holder_lets_go(holder: tuple[Any, Any, Path]) -> None:
    process, release, path = holder
    release.set()
    process.join(30)

    with exclusive_lock(path, timeout=1):
        assert path.exists()
    assert path.exists()  # never removed: a waiter could otherwise lock a stale file


def test_a_killed_holder_leaves_no_lock_behind(holder: tuple[Any, Any, Path]) -> None:
    process, _, path = holder
    os.kill(process.pid, signal.SIGKILL)
    process.join(30)

    with exclusive_lock(path, timeout=5):
        pass


def test_a_child_started_under_the_lock_does_not_keep_it(tmp_path: Path) -> None:
    path = tmp_path / "a.lock"
    with exclusive_lock(path, timeout=1):
        child = subprocess.Popen(["sleep", "30"])
    try:
        with exclusive_lock(path, timeout=0.5):
            assert child.poll() is None  # still running, not holding the lock
    finally:
        child.kill()
        child.wait()


def test_two_holders_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "a.lock"
    with (
        exclusive_lock(path, timeout=1),
        pytest.raises(LockTimeout),
        exclusive_lock(path, timeout=0.1),
    ):
        pytest.fail("one process locked the same file twice")


def test_a_lock_that_cannot_be_created_is_a_lock_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    under_a_file = tmp_path / "file" / "a.lock"
    with pytest.raises(LockError) as refused, exclusive_lock(under_a_file, timeout=1):
        pytest.fail("locked a file that cannot exist")
    assert not isinstance(refused.value, LockTimeout)
