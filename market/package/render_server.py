"""A long-lived child process that renders under the render limits, one call at a time.

``render_limits.run_limited`` forks a child per call. Here a fork of a Django worker
costs 15-25 ms, a render of a small package 2 ms, so on the install path the fork was
most of the render step (bench/workflow.py). This module keeps one child per process
and sends it calls down a pipe; the limits are the same, enforced the same way:

- ``RLIMIT_AS``: set once when the child starts, to what it inherited plus the
  limits' memory allowance; a call that runs out raises MemoryError in the child.
- CPU: before each call the child sets its soft ``RLIMIT_CPU`` to the CPU time used so
  far plus the timeout, and the parent kills it at the wall-clock deadline.
- output: counted by the render itself (market.package.render).

A child that reached a limit, raised MemoryError, died, or served
``_MAX_CALLS`` calls is replaced by a fresh fork at the next call, so nothing a
hostile template did outlives its call for long. The child closes every file
descriptor but its two pipes: template code never holds the parent's database or
broker sockets. It exits when the parent's end of the pipe closes (the parent died).

Calls are module-level functions with picklable arguments and results. A second
thread calling while the child is busy (the threaded development server) is served
by ``run_limited``'s one-off fork instead of waiting.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import resource
import select
import signal
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from market.package.render_limits import (
    MiB,
    RenderLimitExceeded,
    RenderLimits,
    address_space_bytes,
    run_limited,
)

T = TypeVar("T")

# A fresh child now and then bounds what fragmentation and caches can add up to.
_MAX_CALLS = 500
_HEADER = struct.Struct("!Q")


class _Dead(Exception):
    """The child is gone (a limit, a crash, the parent's fork): start another."""


class _Child:
    def __init__(self, limits: RenderLimits) -> None:
        self.owner = os.getpid()
        self.limits = limits
        self.calls = 0
        request_read, self.request_write = os.pipe()
        self.answer_read, answer_write = os.pipe()
        global _forking
        _forking = True
        try:
            pid = os.fork()
        finally:
            _forking = False
        if pid == 0:  # pragma: no cover - the child; coverage does not follow it
            os.close(self.request_write)
            os.close(self.answer_read)
            _serve(request_read, answer_write, limits)
        os.close(request_read)
        os.close(answer_write)
        self.pid = pid

    def call(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        self.calls += 1
        payload = pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            _write_all(self.request_write, _HEADER.pack(len(payload)) + payload)
        except OSError:
            raise _Dead from None
        deadline = time.monotonic() + self.limits.timeout_seconds
        try:
            header = _read_exactly(self.answer_read, _HEADER.size, deadline)
            answer = _read_exactly(self.answer_read, _HEADER.unpack(header)[0], deadline)
        except TimeoutError:
            self.stop()
            raise RenderLimitExceeded(
                f"it takes longer than {self.limits.timeout_seconds:g} seconds"
            ) from None
        except EOFError:
            raise self._died() from None
        except BaseException:
            # Interrupted (a Celery soft time limit): no child outlives the call.
            self.stop()
            raise
        # Written by _serve, our own code: sandboxed template code has no descriptors.
        kind, value = pickle.loads(answer)  # noqa: S301
        if kind == "ok":
            return value
        if kind == "limit":
            self.stop()  # it exits after a limit; reap it
            raise RenderLimitExceeded(value)
        raise value

    def _died(self) -> Exception:
        """The child closed its end without answering: which limit killed it."""
        status = self.stop()
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
            return RenderLimitExceeded(
                f"it takes longer than {self.limits.timeout_seconds:g} seconds"
            )
        # Only running out of memory while answering ends it silently otherwise.
        return RenderLimitExceeded(
            f"it needs more than {self.limits.memory_bytes // MiB} MiB of memory"
        )

    def stop(self) -> int:
        """Kill and reap the child; its wait status."""
        # Forgotten before closed: a fork in another thread at any instant sees
        # either open pipes of ours or -1, never a number a new file already reuses
        # (which _forget_in_forked_child would close in that fork).
        fds = (self.request_write, self.answer_read)
        self.request_write = self.answer_read = -1
        for fd in fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        try:
            return os.waitpid(self.pid, 0)[1]
        except ChildProcessError:
            return 0


_child: _Child | None = None
_lock = threading.Lock()
_forking = False


def run_served(function: Callable[..., T], *args: Any, limits: RenderLimits | None = None) -> T:
    """``function(*args)`` in this process's render child, under ``limits``; its
    result, its exception raised again, or RenderLimitExceeded."""
    global _child
    limits = limits or RenderLimits.from_settings()
    if not _lock.acquire(blocking=False):
        return run_limited(lambda: function(*args), limits=limits)
    try:
        if _child is not None and (
            _child.owner != os.getpid() or _child.limits != limits or _child.calls >= _MAX_CALLS
        ):
            if _child.owner == os.getpid():
                _child.stop()
            _child = None
        if _child is None:
            _child = _Child(limits)
        try:
            return _child.call(function, args)
        except _Dead:
            _child.stop()
            _child = _Child(limits)
            return _child.call(function, args)
        except RenderLimitExceeded:
            _child = None  # stopped by call(); the next call forks a fresh one
            raise
        except BaseException:
            if _child is not None and not _alive(_child):
                _child = None
            raise
    finally:
        _lock.release()


def _alive(child: _Child) -> bool:
    try:
        return os.waitpid(child.pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


def _forget_in_forked_child() -> None:
    """A process forked from one with a render child (a Celery pool process, a
    run_limited child) must not write to that child nor keep its pipes open (the
    child would never see its parent leave). The render child itself keeps them."""
    global _child
    if _forking or _child is None:
        return
    for fd in (_child.request_write, _child.answer_read):
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
    _child = None


os.register_at_fork(after_in_child=_forget_in_forked_child)


# --- the child -------------------------------------------------------------------


def _serve(request_fd: int, answer_fd: int, limits: RenderLimits) -> None:
    """The child's loop; never returns."""
    try:
        for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGQUIT"):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
        _close_other_descriptors(keep={0, 1, 2, request_fd, answer_fd})
        ceiling = address_space_bytes() + limits.memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
        _soft_cpu, hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)
        while True:
            try:
                header = _read_exactly(request_fd, _HEADER.size, None)
            except EOFError:
                break  # the parent closed its end or died
            request = _read_exactly(request_fd, _HEADER.unpack(header)[0], None)
            used = resource.getrusage(resource.RUSAGE_SELF)
            cpu = math.ceil(used.ru_utime + used.ru_stime + limits.timeout_seconds) + 1
            if hard_cpu != resource.RLIM_INFINITY:
                cpu = min(cpu, hard_cpu)
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard_cpu))
            outcome = _answer(request, limits)
            payload = _pickle_outcome(outcome, limits)
            _write_all(answer_fd, _HEADER.pack(len(payload)) + payload)
            if outcome[0] == "limit":
                break  # what the call left behind goes with this process
    finally:
        os._exit(0)


def _answer(request: bytes, limits: RenderLimits) -> tuple[str, Any]:
    memory = f"it needs more than {limits.memory_bytes // MiB} MiB of memory"
    try:
        # Written by the parent, our own code.
        function, args = pickle.loads(request)  # noqa: S301
        return ("ok", function(*args))
    except MemoryError:
        return ("limit", memory)
    except RenderLimitExceeded as exc:
        return ("limit", str(exc))
    except Exception as exc:
        # Without its traceback and context, whose frames may hold what filled the
        # memory (pickling does not carry them anyway).
        exc.__context__ = exc.__cause__ = None
        return ("error", exc.with_traceback(None))


def _pickle_outcome(outcome: tuple[str, Any], limits: RenderLimits) -> bytes:
    try:
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        return pickle.dumps(("limit", f"it needs more than {limits.memory_bytes // MiB} MiB"))
    except Exception as exc:  # an exception that does not pickle: send its text
        return pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


def _close_other_descriptors(*, keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


# --- framing ---------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    """``size`` bytes from ``fd``; EOFError when it closes first, TimeoutError past
    ``deadline`` (a time.monotonic() value; None waits for ever)."""
    chunks: list[bytes] = []
    left = size
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
        chunk = os.read(fd, min(left, 1024 * 1024))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
