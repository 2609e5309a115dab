"""Real Celery worker processes for workflow tests, on the test database and the
real Redis broker, each test on a queue of its own so tests never share messages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """DATABASE_URL naming the database this test runs on (test_…)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


class Worker:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children: no shutdown, no acknowledgement."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def new_queue() -> str:
    return f"workflow-test-{uuid.uuid4().hex[:12]}"


@contextmanager
def celery_worker(
    data_dir: Path,
    queue: str,
    *,
    beat: bool = False,
    env: dict[str, str] | None = None,
    concurrency: int = 1,
) -> Iterator[Worker]:
    """Start ``celery -A portal worker`` (and beat) and wait until it is ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
    environment = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "PORTAL_DATA_DIR": str(data_dir),
        "WORKFLOW_QUEUE": queue,
        "WORKFLOW_HEARTBEAT_SECONDS": "1",
        "WORKFLOW_STALE_SECONDS": "3",
        "WORKFLOW_REAP_INTERVAL_SECONDS": "1",
        "WORKFLOW_RETRY_BACKOFF_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    environment.pop("PYTEST_XDIST_WORKER", None)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "-Q",
        queue,
        "-c",
        str(concurrency),
        "-l",
        "info",
        "--without-gossip",
        "--without-mingle",
        "-n",
        f"{queue}-{uuid.uuid4().hex[:4]}@%h",
    ]
    if beat:
        command += ["-B", "-s", str(data_dir / "celerybeat-schedule")]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = Worker(process, log)
    try:
        wait_for(
            lambda: "ready." in worker.output(), what="worker ready", timeout=60, worker=worker
        )
        yield worker
    finally:
        worker.stop()


def wait_for(
    condition: Callable[[], Any], *, what: str, timeout: float = 60, worker: Worker | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        if worker is not None and worker.process.poll() is not None:
            raise AssertionError(
                f"worker exited while waiting for {what}:\n{worker.output()[-3000:]}"
            )
        time.sleep(0.2)
    tail = worker.output()[-3000:] if worker else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")
