"""Fixtures for workflow tests: a market of test apps, a team, a namespace and a
GitOps repository of the test's own."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from deployments.models import Namespace
from market.models import Market
from portal.models import Role
from tests.deployments.apps import workflow_market
from tests.deployments.kube_live import kube_namespace  # noqa: F401  (a namespace in it)
from tests.deployments.kube_support import kube  # noqa: F401  (the Kubernetes API server)
from tests.deployments.worker import new_queue
from tests.factories import make_namespace, make_team, make_user


@pytest.fixture
def gitops_repo(settings: Any, tmp_path: Path) -> Path:
    settings.GITOPS_DIR = tmp_path / "gitops"
    return settings.GITOPS_DIR


@pytest.fixture
def apps_market(db: None, tmp_path: Path, settings: Any) -> Market:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    return workflow_market(tmp_path)


@pytest.fixture
def operator(db: None) -> Any:
    return make_user("olga")


@pytest.fixture
def namespace(operator: Any) -> Namespace:
    team = make_team("payments", members={operator: Role.OPERATOR})
    return make_namespace(team, "pay-prod")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def commit_subjects(repo: Path) -> list[str]:
    """Subjects, oldest first, without the repository's initial commit."""
    subjects = git(repo, "log", "--reverse", "--format=%s").splitlines()
    return subjects[1:]


def files_under(repo: Path, folder: str) -> dict[str, str]:
    names = git(repo, "ls-tree", "-r", "--name-only", "HEAD", "--", folder).split()
    return {n.removeprefix(folder + "/"): git(repo, "show", f"HEAD:{n}") for n in names}


def revision_number(instance: Any) -> int | None:
    return instance.current_revision.number if instance.current_revision else None


@pytest.fixture
def unconsumed_queue(settings: Any) -> Iterator[str]:
    """Operations go to a queue of this test's own that nothing consumes: the test
    runs them itself (operation_execute, what a worker calls), step by step."""
    settings.WORKFLOW_QUEUE = new_queue()
    yield settings.WORKFLOW_QUEUE
    broker = str(django_settings.CELERY_BROKER_URL)
    if broker.startswith("redis"):  # the queue's messages, which nothing consumed
        redis.Redis.from_url(broker).delete(settings.WORKFLOW_QUEUE)
