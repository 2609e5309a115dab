"""What an operation's steps record for people (SPEC section 5: every step visible
and recorded): its times, its message and a log line for every attempt, kept
across a retried step. In this process, on a GitOps remote that does not exist
until the second delivery."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

from deployments.models import Namespace, Operation, OperationStep
from deployments.services.instances import instance_install
from deployments.workflow.engine import operation_execute
from market.models import Market
from portal.actors import Actor

pytestmark = [pytest.mark.smoke, pytest.mark.django_db(transaction=True)]


def test_each_step_records_its_times_message_and_the_log_of_every_attempt(
    settings: Any,
    tmp_path: Path,
    gitops_repo: Path,
    apps_market: Market,
    namespace: Namespace,
    operator: Any,
) -> None:
    remote = tmp_path / "remote.git"
    settings.GITOPS_REMOTE_URL = str(remote)
    settings.WORKFLOW_RETRY_BACKOFF_SECONDS = 5
    operation = install_cache(apps_market, namespace, operator)
    # No eager tasks: this test is the worker, delivering the message by hand.
    assert operation_execute(str(operation.pk)) == 5  # the remote is missing: retried
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    assert operation_execute(str(operation.pk)) is None

    steps = list(OperationStep.objects.filter(operation=operation).order_by("position"))
    assert [(s.name, s.state) for s in steps] == [
        (name, "succeeded")
        for name in ("resolve", "fetch", "validate", "render", "apply", "verify", "record")
    ]
    # A timeline without overlaps: each step starts once the one before it finished.
    times = [t for s in steps for t in (s.started_at, s.finished_at) if t is not None]
    assert len(times) == 2 * len(steps) and times == sorted(times)
    # Each line of a log is "HH:MM:SS <text>"; the retried attempt's lines stay.
    logs = {s.name: [line[9:] for line in s.log.splitlines()] for s in steps}
    apply = steps[4]
    assert apply.message.startswith("gitops commit ")
    assert logs["apply"][0] == "attempt 1: started"
    assert logs["apply"][1].startswith("retrying: ")
    assert logs["apply"][2:] == ["attempt 1: started", apply.message]
    for step in steps[:4] + steps[5:6]:
        assert step.message and logs[step.name] == ["attempt 1: started", step.message]
    assert (steps[6].message, steps[6].log) == ("revision 1 recorded", "")


def test_while_apply_waits_on_the_target_the_steps_before_it_show_done_and_apply_running(
    gitops_repo: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    """Quick steps write their states with the next commit point; the one before a
    step that waits on the target is that step's start, so a page read during the
    wait shows where the operation is."""
    from deployments.targets import gitops_target
    from guards.locks import exclusive_lock

    operation = install_cache(apps_market, namespace, operator)
    steps = OperationStep.objects.filter(operation=operation).order_by("position")
    # Holding the repository's writer lock, the test keeps apply waiting for it.
    with exclusive_lock(gitops_target().lock_path, timeout=5):
        worker, results = deliver_in_thread(str(operation.pk))
        deadline = time.monotonic() + 30
        while steps.get(name="apply").state != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = [(s.name, s.state) for s in steps]
    worker.join(timeout=60)
    assert seen == [
        ("resolve", "succeeded"),
        ("fetch", "succeeded"),
        ("validate", "succeeded"),
        ("render", "succeeded"),
        ("apply", "running"),
        ("verify", "pending"),
        ("record", "pending"),
    ]
    assert results == [None]
    assert [s.state for s in steps.all()] == ["succeeded"] * 7


def test_while_fetch_reads_market_storage_the_page_shows_fetch_running(
    monkeypatch: pytest.MonkeyPatch,
    apps_market: Market,
    namespace: Namespace,
    operator: Any,
    gitops_repo: Path,
) -> None:
    """A worker that has not read the package yet announces the fetch before
    reading storage (a package it has read waits on nothing, so it is not)."""
    from market.services import fetch as fetch_module

    operation = install_cache(apps_market, namespace, operator)
    steps = OperationStep.objects.filter(operation=operation).order_by("position")
    # The worker has read no package yet (this process read it for the request).
    monkeypatch.setattr(fetch_module, "_read", OrderedDict())
    reading, release = threading.Event(), threading.Event()
    fetch = fetch_module.package_fetch

    def held_fetch(**kwargs: Any) -> bytes:  # the test holds the storage read
        reading.set()
        release.wait(timeout=30)
        return fetch(**kwargs)

    monkeypatch.setattr(fetch_module, "package_fetch", held_fetch)
    worker, results = deliver_in_thread(str(operation.pk))
    try:
        assert reading.wait(timeout=30)
        seen = [(s.name, s.state) for s in steps[:3]]
    finally:
        release.set()
        worker.join(timeout=60)
    assert seen == [("resolve", "succeeded"), ("fetch", "running"), ("validate", "pending")]
    assert results == [None]
    assert [s.state for s in steps.all()] == ["succeeded"] * 7


def install_cache(market: Market, namespace: Namespace, operator: Any) -> Operation:
    """The install of redis-lite as ``cache`` every test here follows, requested."""
    return instance_install(
        actor=Actor(user=operator),
        namespace=namespace,
        market=market,
        name="cache",
        app="redis-lite",
    ).operation


def deliver_in_thread(operation_id: str) -> tuple[threading.Thread, list[int | None]]:
    """``deliver`` started on a thread; the list gets its answer."""
    results: list[int | None] = []
    worker = threading.Thread(target=lambda: results.append(deliver(operation_id)))
    worker.start()
    return worker, results


def deliver(operation_id: str) -> int | None:
    """operation_execute on a thread of its own, as a worker: its own connection,
    closed after."""
    from django.db import connection

    try:
        return operation_execute(operation_id)
    finally:
        connection.close()
