"""Exclusive file locks with a timeout: the one lock for writers that run in several
processes (local market storage's compare-and-swap, the GitOps repository).

Why ``flock`` on a lock file, and why this way:

- The kernel drops an ``flock`` when its descriptor closes, including when the
  process is SIGKILLed, so a dead writer never leaves a lock that needs clearing.
- The lock file is never removed. Unlinking it while another process waits on the
  old file would let a third process create a new file of the same name and lock
  that one: two holders at once.
- Waiting is a poll on ``LOCK_NB`` with a short, growing sleep, not a blocking
  ``flock``: a blocked call cannot be given a deadline, and a worker that waits
  forever behind a hung writer is worse than one that fails as transient and is
  retried. Each sleep is a tenth of the time waited so far: a waiter takes a lock
  freed after a sibling's short write (tens of milliseconds, the common case) at
  most about 10% late, and a long wait still costs few wake-ups. (Doubling sleeps
  woke up to half the wait late: two GitOps workers left the repository lock free
  a quarter of the time, bench/workflow.py.)
- The descriptor is close-on-exec, so git or any other child started while the lock
  is held does not inherit it (and keep it after the parent dies).

``flock`` locks work between processes on one host and, on Linux NFS v4 clients,
across hosts; within one process two descriptors of the same file also exclude
each other.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SHORTEST_WAIT_SECONDS = 0.001
LONGEST_WAIT_SECONDS = 0.05


class LockError(Exception):
    """The lock could not be taken: its file cannot be opened (``LockError`` itself)
    or it was held by someone else for the whole timeout (``LockTimeout``)."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(message)


class LockTimeout(LockError):
    def __init__(self, path: Path, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(path, f"timed out after {timeout:.0f}s waiting for the lock {path}")


@contextmanager
def exclusive_lock(path: Path, *, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created with its folder if missing)
    for the ``with`` block; raise ``LockTimeout`` after ``timeout`` seconds of
    waiting, ``LockError`` when the file cannot be opened."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise LockError(path, f"cannot open the lock {path}: {error.strerror}") from None
    try:
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= timeout:
                    raise LockTimeout(path, timeout) from None
                time.sleep(min(max(SHORTEST_WAIT_SECONDS, waited / 10), LONGEST_WAIT_SECONDS))
        yield
    finally:
        # Closing the descriptor releases the lock (a SIGKILL closes it too).
        os.close(fd)


__all__ = ["LockError", "LockTimeout", "exclusive_lock"]
