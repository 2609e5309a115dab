"""The limits on rendering package templates (SPEC section 11), in one place.

A template is code: one expression (``"ab" * 10**8``, ``7 ** 4000000``,
``"x"|center(10**9)``, ``s.ljust(...)``, ``~`` doubling a string in a loop) can
allocate gigabytes or spin for seconds inside a single C call, where no check written
in Python gets a say, and guards on single operators only cover the operators someone
thought of. So every render runs in a forked child process that the kernel bounds:

- ``RLIMIT_AS``: the child's address space may grow by ``memory_bytes`` past what it
  inherited; a bigger allocation fails with MemoryError in the child, never in the
  caller, whose memory does not grow at all.
- ``RLIMIT_CPU`` and a wall-clock deadline: the parent kills the child with SIGKILL
  once ``RENDER_TIMEOUT_SECONDS`` have passed (a loop in C or Python, or sleeping on
  nothing, all end the same way).
- the output: the child counts what it produces and stops past ``RENDER_MAX_BYTES``.

Compiling is bounded differently: market.package.jinja's environment never evaluates
template expressions at compile time, so compiling (at every read of a package) costs
time linear in the source and may stay in-process.

The cost is one fork per render (about a millisecond for the web or worker process,
bench/workflow.py measures it); the child does no I/O but one pipe back to the parent
and leaves with os._exit, so it never touches the parent's database connections or
sockets. Linux (fork, /proc, rlimits) is what the portal runs on.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import resource
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

MiB = 1024 * 1024
T = TypeVar("T")

# Room for the interpreter's own growth in the child (arenas, the compiled template,
# YAML parsing of the output) on top of a few copies of the largest output allowed.
_MEMORY_FLOOR_BYTES = 96 * MiB
_OUTPUT_COPIES = 8


class RenderLimitExceeded(Exception):
    """A render went past a limit. ``str()`` is one line saying which; ``code`` is the
    refusal code every caller reports (``render_limit``)."""

    code = "render_limit"


@dataclass(frozen=True)
class RenderLimits:
    timeout_seconds: float = 10
    max_bytes: int = 20 * MiB

    @property
    def memory_bytes(self) -> int:
        """How far the child's address space may grow past what it inherited."""
        return _MEMORY_FLOOR_BYTES + _OUTPUT_COPIES * self.max_bytes

    @classmethod
    def from_settings(cls) -> RenderLimits:
        """RENDER_TIMEOUT_SECONDS and RENDER_MAX_BYTES from Django settings; the defaults
        above when Django is not configured (scripts, plain unit tests)."""
        from django.conf import settings

        if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
            return cls()
        defaults = cls()
        return cls(
            timeout_seconds=float(
                getattr(settings, "RENDER_TIMEOUT_SECONDS", defaults.timeout_seconds)
            ),
            max_bytes=int(getattr(settings, "RENDER_MAX_BYTES", defaults.max_bytes)),
        )


def address_space_bytes() -> int:
    with open("/proc/self/statm", "rb") as statm:
        pages = int(statm.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _child(function: Callable[[], Any], limits: RenderLimits, write_fd: int) -> None:
    """Runs in the forked child; never returns."""
    status = 0
    try:
        ceiling = address_space_bytes() + limits.memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
        cpu = math.ceil(limits.timeout_seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        memory = f"it needs more than {limits.memory_bytes // MiB} MiB of memory"
        try:
            outcome: tuple[str, Any] = ("ok", function())
        except MemoryError:
            outcome = ("limit", memory)
        except RenderLimitExceeded as exc:
            outcome = ("limit", str(exc))
        except Exception as exc:
            # Without its traceback and context, whose frames may hold what filled
            # the memory (pickling does not carry them anyway).
            exc.__context__ = exc.__cause__ = None
            outcome = ("error", exc.with_traceback(None))
        try:
            payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            outcome = ("limit", memory)
            payload = pickle.dumps(outcome)
        except Exception as exc:  # an exception that does not pickle: send its text
            payload = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view) :]
    except BaseException:
        status = 1
    finally:
        # No atexit handlers, no finalizers: the parent's connections stay its own.
        os._exit(status)


def run_limited(function: Callable[[], T], *, limits: RenderLimits | None = None) -> T:
    """Call ``function()`` in a forked child under ``limits`` and return its result.

    Steps: fork; in the child cap the address space and CPU time, call, pickle the
    outcome down a pipe and exit; in the parent read the pipe until the deadline, kill
    the child if it is still running, reap it. An exception ``function`` raises is
    raised again here; a limit reached is RenderLimitExceeded. ``function``'s result
    and exceptions must pickle."""
    limits = limits or RenderLimits.from_settings()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; coverage does not follow it
        os.close(read_fd)
        _child(function, limits, write_fd)
    os.close(write_fd)
    chunks: list[bytes] = []
    timed_out = answered = False
    deadline = time.monotonic() + limits.timeout_seconds
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(read_fd, 1024 * 1024)
            if not chunk:
                answered = True
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        # Also when the caller is interrupted (a Celery soft time limit): no child
        # outlives the call.
        if not answered:
            _kill(pid)
        _, wait_status = os.waitpid(pid, 0)
    if timed_out:
        raise RenderLimitExceeded(f"it takes longer than {limits.timeout_seconds:g} seconds")
    if os.WIFSIGNALED(wait_status) and os.WTERMSIG(wait_status) in (
        signal.SIGXCPU,
        signal.SIGKILL,
    ):
        raise RenderLimitExceeded(f"it takes longer than {limits.timeout_seconds:g} seconds")
    if not chunks:
        # The child died before answering: only running out of memory while
        # answering does that.
        raise RenderLimitExceeded(f"it needs more than {limits.memory_bytes // MiB} MiB of memory")
    # Written by _child, our own code: sandboxed template code has no file descriptors.
    kind, value = pickle.loads(b"".join(chunks))  # noqa: S301
    if kind == "ok":
        return value
    if kind == "limit":
        raise RenderLimitExceeded(value)
    raise value


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
