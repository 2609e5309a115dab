"""The embedded broker under load (issue 14, item 1): `make run` died when its worker
read a message file before the producer had written it. Two producer processes
send 10,000 messages while a real `celery worker -B` (the worker and scheduler of
`make run`, on the filesystem broker) consumes them: every message arrives exactly
once and the worker is still running at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.smoke.broker_probe import PROBE_FILE
from tests.smoke.test_embedded_worker import REPO, embedded_env, manage

pytestmark = [pytest.mark.smoke, pytest.mark.slow]

PRODUCERS = 2
PER_PRODUCER = 5_000

# One producer: the portal's Celery app, one connection, numbers [first, first + count).
PRODUCE = """
import sys
from portal.celery import app
first, count = int(sys.argv[1]), int(sys.argv[2])
with app.producer_or_acquire() as producer:
    for number in range(first, first + count):
        app.send_task("broker_probe.record", args=[number], producer=producer)
"""


def _received(probe: Path) -> list[int]:
    if not probe.exists():
        return []
    return [int(line) for line in probe.read_text().splitlines() if line]


def test_two_producers_and_a_worker_with_beat_lose_no_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    probe = tmp_path / "received.txt"
    env = embedded_env(data) | {PROBE_FILE: str(probe)}
    # The scheduler's own tasks (repairs, syncs) run against the database too.
    manage(env, "migrate", "--noinput", "-v", "0")

    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-B", "--concurrency=2",
         "--loglevel=warning", "-I", "tests.smoke.broker_probe"],
        cwd=REPO, env=env, stdout=worker_log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    started = time.monotonic()
    try:
        producers = [
            subprocess.Popen(
                [sys.executable, "-c", PRODUCE, str(n * PER_PRODUCER), str(PER_PRODUCER)],
                cwd=REPO,
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(PRODUCERS)
        ]
        for producer in producers:
            _, err = producer.communicate(timeout=300)
            assert producer.returncode == 0, err[-2000:]
        sent_in = time.monotonic() - started

        expected = PRODUCERS * PER_PRODUCER
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and worker.poll() is None:
            if sum(1 for n in _received(probe) if n >= 0) >= expected:
                break
            time.sleep(0.5)
        drained_in = time.monotonic() - started
        alive = worker.poll() is None
    finally:
        # The leader only, as run.sh does: its warm shutdown stops the pool and beat.
        worker.terminate()
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        worker_log.close()

    log = (tmp_path / "worker.log").read_text()
    counts = Counter(_received(probe))
    ticks = counts.pop(-1, 0)
    print(f"{expected} messages: sent in {sent_in:.1f}s, all received in {drained_in:.1f}s")
    assert alive, log[-3000:]
    assert sorted(counts) == list(range(expected)), (
        f"{expected - len(counts)} lost; worker log:\n{log[-3000:]}"
    )
    assert max(counts.values()) == 1  # none delivered twice
    assert ticks > 0  # beat published through the same broker meanwhile
    assert list((data / "queue" / "quarantine").iterdir()) == []
    assert "JSONDecodeError" not in log and "Unrecoverable error" not in log
