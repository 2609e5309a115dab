"""The workflow on PostgreSQL + Redis + real Celery worker processes: the whole
lifecycle, a worker SIGKILLed in the middle of apply, and a task delivered twice.
Every outcome is checked in the GitOps repository's commits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deployments.models import Instance, Namespace, Operation, OperationStep
from deployments.services.instances import (
    instance_install,
    instance_rollback,
    instance_uninstall,
    instance_upgrade,
)
from deployments.tasks import operation_run_task
from market.models import Market
from portal.actors import Actor
from tests.deployments.conftest import commit_subjects, files_under, git, revision_number
from tests.deployments.worker import celery_worker, new_queue, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.services,
    pytest.mark.slow,
]


@pytest.fixture
def queue(settings: Any) -> str:
    settings.WORKFLOW_QUEUE = new_queue()
    return settings.WORKFLOW_QUEUE


@pytest.fixture
def data_dir(tmp_path: Path, settings: Any) -> Path:
    """The worker's data folder; this process writes the same GitOps repository."""
    settings.GITOPS_DIR = tmp_path / "data" / "gitops"
    return tmp_path / "data"


def finished(operation_id: Any, worker: Any, timeout: float = 90) -> Operation:
    def done() -> Operation | None:
        operation = Operation.objects.get(pk=operation_id)
        return None if operation.is_active else operation

    return wait_for(done, what=f"operation {operation_id}", timeout=timeout, worker=worker)


def test_lifecycle_install_upgrade_failed_upgrade_rollback_uninstall(
    queue: str, data_dir: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    actor = Actor(user=operator)
    repo = data_dir / "gitops"
    with celery_worker(data_dir, queue) as worker:
        requested = instance_install(
            actor=actor,
            namespace=namespace,
            market=apps_market,
            name="shop",
            app="web-app",
            version="1.0.0",
            values={"apiKey": "k-1"},
        )
        assert finished(requested.operation.pk, worker).state == "succeeded"
        shop = Instance.objects.get(pk=requested.instance.pk)

        upgrade = instance_upgrade(actor=actor, instance=shop, version="1.1.0")
        assert finished(upgrade.operation.pk, worker).state == "succeeded"
        upgraded = files_under(repo, "pay-prod/shop")

        shop.refresh_from_db()
        broken = instance_upgrade(actor=actor, instance=shop, version="1.2.0")
        failed = finished(broken.operation.pk, worker)
        assert failed.state == "rolled_back", failed.error
        assert files_under(repo, "pay-prod/shop") == upgraded

        shop.refresh_from_db()
        back = instance_rollback(actor=actor, instance=shop, revision=1)
        assert finished(back.operation.pk, worker).state == "succeeded"
        shop.refresh_from_db()
        assert (shop.version, revision_number(shop)) == ("1.0.0", 3)
        assert sorted(files_under(repo, "pay-prod/shop")) == ["deployment.yaml", "secret.yaml"]

        gone = instance_uninstall(actor=actor, instance=shop)
        assert finished(gone.operation.pk, worker).state == "succeeded"
        redis = Instance.objects.get(namespace=namespace, name="redis-lite")
        gone = instance_uninstall(actor=actor, instance=redis)
        assert finished(gone.operation.pk, worker).state == "succeeded"

    assert commit_subjects(repo) == [
        "install pay-prod/redis-lite redis-lite@1.0.0",
        "install pay-prod/shop web-app@1.0.0",
        "upgrade pay-prod/shop web-app@1.1.0",
        "upgrade pay-prod/shop web-app@1.2.0",
        "rollback pay-prod/shop web-app@1.1.0",
        "rollback pay-prod/shop web-app@1.0.0",
        "uninstall pay-prod/shop web-app@1.0.0",
        "uninstall pay-prod/redis-lite redis-lite@1.0.0",
    ]
    assert git(repo, "ls-tree", "-r", "--name-only", "HEAD").split() == []
    body = git(repo, "log", "-1", "--skip=6", "--format=%B")
    assert "Requested-by: olga" in body and f"Operation-Id: {requested.operation.pk}" in body


def kill_during_apply(
    data_dir: Path, queue: str, market: Market, namespace: Namespace, user: Any
) -> str:
    """Install redis-lite as `cache` with a worker that stops between writing the
    files and committing them, and SIGKILL it there. Returns the operation id."""
    repo = data_dir / "gitops"
    with celery_worker(data_dir, queue, env={"OPSMARKET_FAULT_PAUSE_BEFORE_COMMIT": "60"}) as first:
        requested = instance_install(
            actor=Actor(user=user),
            namespace=namespace,
            market=market,
            name="cache",
            app="redis-lite",
        )
        operation_id = str(requested.operation.pk)
        wait_for(
            lambda: (
                OperationStep.objects.filter(
                    operation_id=operation_id, name="apply", state="running"
                ).exists()
                and (repo / "pay-prod" / "cache").exists()
            ),
            what="apply under way",
            worker=first,
        )
        first.kill()
    assert Operation.objects.get(pk=operation_id).state == "running"
    return operation_id


def test_worker_killed_during_apply_is_resumed_with_one_commit(
    queue: str, data_dir: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    repo = data_dir / "gitops"
    operation_id = kill_during_apply(data_dir, queue, apps_market, namespace, operator)

    # The second worker runs beat: the reaper finds the stale heartbeat.
    with celery_worker(data_dir, queue, beat=True) as second:
        operation = finished(operation_id, second)

    assert operation.state == "succeeded", operation.error
    assert operation.attempt == 2
    assert commit_subjects(repo) == ["install pay-prod/cache redis-lite@1.0.0"]
    assert git(repo, "status", "--porcelain") == ""
    git(repo, "fsck", "--no-progress")
    assert sorted(files_under(repo, "pay-prod/cache")) == ["secret.yaml", "service.yaml"]
    assert operation.instance.status == "deployed"


def test_worker_lost_past_the_attempt_limit_fails_the_operation_cleanly(
    queue: str, data_dir: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    repo = data_dir / "gitops"
    operation_id = kill_during_apply(data_dir, queue, apps_market, namespace, operator)

    with celery_worker(data_dir, queue, beat=True, env={"WORKFLOW_MAX_ATTEMPTS": "1"}) as second:
        operation = finished(operation_id, second)

    assert operation.state == "failed"
    assert "worker lost 1 times during apply" in operation.error
    instance = Instance.objects.get(pk=operation.instance_id)
    assert instance.status == "failed" and "nothing was applied" in instance.status_message
    # The files the killed worker wrote were never committed, and are gone.
    assert commit_subjects(repo) == []
    assert git(repo, "status", "--porcelain") == ""


def test_the_same_task_delivered_twice_commits_once(
    queue: str, data_dir: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    repo = data_dir / "gitops"
    requested = instance_install(
        actor=Actor(user=operator),
        namespace=namespace,
        market=apps_market,
        name="cache",
        app="redis-lite",
    )
    # Two more messages for the same operation, as a redelivery would send.
    for _ in range(2):
        operation_run_task.apply_async((str(requested.operation.pk),), queue=queue)
    with celery_worker(data_dir, queue) as worker:
        operation = finished(requested.operation.pk, worker)
        wait_for(
            lambda: worker.output().count("succeeded in") >= 3,
            what="all three messages",
            worker=worker,
        )

    assert operation.state == "succeeded"
    assert operation.attempt == 1
    assert commit_subjects(repo) == ["install pay-prod/cache redis-lite@1.0.0"]
    assert Instance.objects.get(pk=requested.instance.pk).revisions.count() == 1


def test_unreachable_remote_is_retried_with_backoff_until_it_answers(
    queue: str,
    data_dir: Path,
    apps_market: Market,
    namespace: Namespace,
    operator: Any,
    tmp_path: Path,
) -> None:
    remote = tmp_path / "remote.git"  # does not exist yet: every push fails
    with celery_worker(data_dir, queue, env={"GITOPS_REMOTE_URL": str(remote)}) as worker:
        requested = instance_install(
            actor=Actor(user=operator),
            namespace=namespace,
            market=apps_market,
            name="cache",
            app="redis-lite",
        )
        wait_for(
            lambda: OperationStep.objects.filter(
                operation_id=requested.operation.pk, name="apply", message__startswith="retrying"
            ).exists(),
            what="a retried apply",
            worker=worker,
        )
        git(tmp_path, "init", "-q", "--bare", str(remote))
        operation = finished(requested.operation.pk, worker)

    assert operation.state == "succeeded", operation.error
    assert "Retry in" in worker.output()
    assert git(remote, "log", "--format=%s", "main").splitlines()[0] == (
        "install pay-prod/cache redis-lite@1.0.0"
    )
    # The retried apply found its own commit: one commit for the operation.
    assert commit_subjects(data_dir / "gitops") == ["install pay-prod/cache redis-lite@1.0.0"]


def test_a_remote_down_through_more_retries_than_the_attempt_limit_ends_succeeded(
    queue: str,
    data_dir: Path,
    apps_market: Market,
    namespace: Namespace,
    operator: Any,
    tmp_path: Path,
) -> None:
    """Issue 10: retries used to count as attempts, so three waits for a target
    outage failed the operation as 'worker lost 3 times', and the reaper re-sent
    operations still waiting out their backoff. The backoff here (4 s) is longer
    than the reaper's stale age (3 s), with beat running."""
    remote = tmp_path / "remote.git"
    env = {
        "GITOPS_REMOTE_URL": str(remote),
        "WORKFLOW_MAX_ATTEMPTS": "3",
        "WORKFLOW_MAX_RETRIES": "10",
        "WORKFLOW_RETRY_BACKOFF_SECONDS": "4",
        "WORKFLOW_RETRY_BACKOFF_MAX_SECONDS": "4",
    }
    with celery_worker(data_dir, queue, beat=True, env=env) as worker:
        requested = instance_install(
            actor=Actor(user=operator),
            namespace=namespace,
            market=apps_market,
            name="cache",
            app="redis-lite",
        )
        wait_for(
            lambda: Operation.objects.filter(pk=requested.operation.pk, retries__gte=4).exists(),
            what="four retries",
            timeout=120,
            worker=worker,
        )
        git(tmp_path, "init", "-q", "--bare", str(remote))
        operation = finished(requested.operation.pk, worker)

    assert operation.state == "succeeded", operation.error
    assert operation.attempt == 1
    assert operation.retries >= 4
    assert git(remote, "log", "--format=%s", "main").splitlines()[0] == (
        "install pay-prod/cache redis-lite@1.0.0"
    )
    assert commit_subjects(data_dir / "gitops") == ["install pay-prod/cache redis-lite@1.0.0"]


def test_two_hosts_with_their_own_data_folders_install_into_one_remote(
    queue: str, tmp_path: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    """SPEC 12: two workers sharing the database, the broker and GITOPS_REMOTE_URL but
    no file system, taking installs into one namespace off one queue."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    # Someone else's commit is there first and stays.
    person = tmp_path / "person"
    git(tmp_path, "clone", "-q", str(remote), str(person))
    (person / "README.md").write_text("# clusters\n")
    git(person, "add", "README.md")
    git(person, "-c", "user.name=Pat", "-c", "user.email=p@x", "commit", "-q", "-m", "README")
    git(person, "push", "-q", "origin", "HEAD:main")
    env = {"GITOPS_REMOTE_URL": str(remote)}
    names = [f"cache-{number}" for number in range(1, 9)]
    with (
        celery_worker(tmp_path / "host-1", queue, env=env) as first,
        celery_worker(tmp_path / "host-2", queue, env=env) as second,
    ):
        operations = [
            instance_install(
                actor=Actor(user=operator),
                namespace=namespace,
                market=apps_market,
                name=name,
                app="redis-lite",
            ).operation.pk
            for name in names
        ]
        # The first one delivered twice more, as a redelivery would: whichever host
        # takes a copy finds the commit on the remote.
        for _ in range(2):
            operation_run_task.apply_async((str(operations[0]),), queue=queue)
        done = [finished(pk, first, timeout=180) for pk in operations]
        wait_for(
            lambda: (
                first.output().count("succeeded in") + second.output().count("succeeded in")
                >= len(operations) + 2
            ),
            what="every message",
            worker=second,
        )

    assert [operation.state for operation in done] == ["succeeded"] * len(names)
    assert "succeeded in" in first.output() and "succeeded in" in second.output()
    trailers = git(remote, "log", "--format=%(trailers:key=Operation-Id,valueonly)", "main")
    assert sorted(trailers.split()) == sorted(str(pk) for pk in operations)
    assert git(remote, "rev-list", "--merges", "main") == ""
    assert git(remote, "log", "--reverse", "--format=%s", "main").splitlines()[0] == "README"
    files = git(remote, "ls-tree", "-r", "--name-only", "main").split()
    assert files == sorted(
        ["README.md"]
        + [f"pay-prod/{name}/{file}" for name in names for file in ("secret.yaml", "service.yaml")]
    )
    for folder in ("host-1", "host-2"):
        assert (tmp_path / folder / "gitops" / ".git").is_dir()
