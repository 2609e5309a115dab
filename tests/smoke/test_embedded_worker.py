"""The embedded defaults end to end: SQLite, the filesystem broker and a real
Celery worker process, with no service at all — what `make run` gives a newcomer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "S3_ENDPOINT_URL")

pytestmark = [pytest.mark.smoke, pytest.mark.slow]


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env.update(PORTAL_DATA_DIR=str(data_dir), DEBUG="1", PYTHONUNBUFFERED="1")
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def poll_until_done(env: dict[str, str], script: str, *, timeout: float) -> dict[str, Any]:
    """Run `script` (prints one JSON line with a "state") until the state is final,
    with a real worker on the filesystem broker running meanwhile. Returns the last
    state, and the worker's output under "worker_output"."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "-l", "info"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    state: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = json.loads(manage(env, "shell", "-c", script).splitlines()[-1])
            if state["state"] not in ("queued", "running"):
                break
            time.sleep(1)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    state["worker_output"] = output
    return state


QUEUE_SYNC = """
from market.models import Market
from market.services.sync import sync_job_enqueue
job = sync_job_enqueue(market=Market.objects.get(name="demo"), requested_by="smoke")
print(job.pk)
"""

JOB_STATE = """
import json
from market.models import SyncJob
job = SyncJob.objects.get(pk={pk})
print(json.dumps({{"state": job.state, "error": job.error, "report": job.report}}))
"""


def test_a_real_worker_on_the_filesystem_broker_runs_a_queued_sync(tmp_path):
    env = embedded_env(tmp_path / "data")
    manage(env, "migrate", "--noinput", "-v", "0")
    logins = manage(env, "demo_load")
    assert "admin" in logins

    pk = int(manage(env, "shell", "-c", QUEUE_SYNC).strip().splitlines()[-1])
    state = poll_until_done(env, JOB_STATE.format(pk=pk), timeout=90)

    assert state.get("state") == "succeeded", (state, state["worker_output"][-3000:])
    # The demo market was synced at load, so the worker's sync found it unchanged.
    assert state["report"]["unchanged"] is True
    assert "ready" in state["worker_output"]


QUEUE_INSTALL = """
from django.contrib.auth import get_user_model
from deployments.models import Namespace
from market.models import Market
from deployments.services.instances import instance_install
from portal.actors import Actor
requested = instance_install(
    actor=Actor(user=get_user_model().objects.get(username="operator")),
    namespace=Namespace.objects.get(name="sre-tools"),
    market=Market.objects.get(name="demo"),
    name="log-analyzer",
    app="log-analyzer",
)
print(requested.operation.pk)
"""

INSTANCES = """
import json
from deployments.models import Instance, Operation
op = Operation.objects.get(pk="{pk}")
print(json.dumps({{"state": op.state, "error": op.error,
    "instances": sorted((i.name, i.status) for i in Instance.objects.all())}}))
"""


def test_a_real_worker_on_the_filesystem_broker_installs_a_demo_app(tmp_path):
    """What `make run` gives: the demo's operator installs log-analyzer, whose two
    dependencies are installed first, by a worker with no service at all."""
    data = tmp_path / "data"
    env = embedded_env(data)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "demo_load")
    pk = manage(env, "shell", "-c", QUEUE_INSTALL).strip().splitlines()[-1]
    state = poll_until_done(env, INSTANCES.format(pk=pk), timeout=120)

    assert state.get("state") == "succeeded", (state, state["worker_output"][-3000:])
    assert state["instances"] == [
        ["log-analyzer", "deployed"],
        ["log-collector", "deployed"],
        ["redis-ops", "deployed"],
    ]
    log = subprocess.run(
        ["git", "-C", str(data / "gitops"), "log", "--format=%s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert log[0].startswith("install sre-tools/log-analyzer log-analyzer@")
    assert len(log) == 4  # the repository's first commit and one per instance
