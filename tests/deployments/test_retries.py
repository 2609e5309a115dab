"""Transient failures and lost workers are counted apart (issue 10): an outage of the
GitOps remote waited out through several retries is not mistaken for dying workers,
the reaper leaves an operation waiting for its retry alone, and an operation that
runs out of retries says why. In this process, on a remote that does not exist yet."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from deployments.models import Instance, Namespace, Operation
from deployments.services.instances import instance_install
from deployments.workflow.engine import operation_execute, retry_countdown
from deployments.workflow.reaper import stranded_operations
from market.models import Market
from portal.actors import Actor
from tests.deployments.conftest import git

pytestmark = [pytest.mark.smoke, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def remote(settings: Any, tmp_path: Path, gitops_repo: Path) -> Path:
    """A remote URL whose repository does not exist yet: every push fails, transiently."""
    settings.GITOPS_REMOTE_URL = str(tmp_path / "remote.git")
    settings.WORKFLOW_RETRY_BACKOFF_SECONDS = 5
    settings.WORKFLOW_RETRY_BACKOFF_MAX_SECONDS = 15
    settings.WORKFLOW_STALE_SECONDS = 60
    return tmp_path / "remote.git"


def requested_install(operator: Any, namespace: Namespace, market: Market) -> Operation:
    # No eager tasks: this test is the worker, delivering the message by hand.
    requested = instance_install(
        actor=Actor(user=operator),
        namespace=namespace,
        market=market,
        name="cache",
        app="redis-lite",
    )
    return requested.operation


def test_retries_do_not_use_up_the_attempt_limit_and_succeed_once_the_remote_is_back(
    settings: Any, remote: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    settings.WORKFLOW_MAX_ATTEMPTS = 1
    settings.WORKFLOW_MAX_RETRIES = 6
    operation = requested_install(operator, namespace, apps_market)

    countdowns = [operation_execute(str(operation.pk)) for _ in range(4)]

    # Exponential, capped: 5, 10, 15, 15 seconds.
    assert countdowns == [5, 10, 15, 15]
    waiting = Operation.objects.get(pk=operation.pk)
    assert (waiting.state, waiting.attempt, waiting.retries) == ("running", 1, 4)
    assert waiting.retry_at is not None and waiting.retry_at > timezone.now()
    # Waiting long since it started, with no heartbeat: still not the reaper's,
    # because its retry is scheduled and not yet overdue.
    Operation.objects.filter(pk=operation.pk).update(started_at=timezone.now() - timedelta(hours=1))
    assert str(operation.pk) not in stranded_operations()

    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    assert operation_execute(str(operation.pk)) is None

    done = Operation.objects.get(pk=operation.pk)
    assert (done.state, done.attempt, done.retries, done.error) == ("succeeded", 1, 4, "")
    assert Instance.objects.get(pk=done.instance_id).status == "deployed"
    # Newest first: the one commit of the operation, on the repository's first commit.
    assert git(remote, "log", "--format=%s", "main").splitlines() == [
        "install pay-prod/cache redis-lite@1.0.0",
        "Initialise the Ops Market GitOps repository",
    ]


def test_a_retry_overdue_by_the_stale_age_is_the_reapers(
    settings: Any, remote: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    operation = requested_install(operator, namespace, apps_market)
    assert operation_execute(str(operation.pk)) == 5

    # Its retry message was lost with a worker: due long ago, never delivered.
    Operation.objects.filter(pk=operation.pk).update(
        retry_at=timezone.now() - timedelta(seconds=settings.WORKFLOW_STALE_SECONDS + 1)
    )
    assert stranded_operations() == [str(operation.pk)]


def test_out_of_retries_the_operation_fails_naming_the_cause_and_is_undone(
    settings: Any, remote: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    settings.WORKFLOW_MAX_RETRIES = 2
    operation = requested_install(operator, namespace, apps_market)

    results = [operation_execute(str(operation.pk)) for _ in range(3)]

    # Out of retries: the operation fails, but whether apply's commit reached the
    # remote (and needs undoing) is known only from the remote, so the undo itself
    # waits for it rather than leaving a half state.
    assert results == [5, 10, 15]
    assert Operation.objects.get(pk=operation.pk).state == "running"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    assert operation_execute(str(operation.pk)) is None

    failed = Operation.objects.get(pk=operation.pk)
    assert failed.state == "failed"
    assert failed.error.startswith("apply: gave up after 3 tries: git fetch failed")
    assert "does not appear to be a git repository" in failed.error
    assert "worker lost" not in failed.error
    assert failed.attempt == 1
    instance = Instance.objects.get(pk=failed.instance_id)
    assert instance.status == "failed"
    # A commit counts once the remote has it: none reached it, none to undo.
    assert git(remote, "for-each-ref", "refs/heads").strip() == ""


def test_the_backoff_doubles_up_to_its_cap(settings: Any) -> None:
    settings.WORKFLOW_RETRY_BACKOFF_SECONDS = 2
    settings.WORKFLOW_RETRY_BACKOFF_MAX_SECONDS = 60
    assert [retry_countdown(n) for n in (0, 1, 2, 5, 6, 1000)] == [2, 4, 8, 60, 60, 60]
