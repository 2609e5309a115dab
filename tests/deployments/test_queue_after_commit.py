"""One way to queue after commit (portal.queue.enqueue_on_commit): a broker that
answers the pre-check but is gone when the message is sent never turns a committed
change into a 500. The row is the truth; each kind's repair sends it later."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from builds.models import Build
from deployments.models import Namespace, Operation
from deployments.workflow.reaper import stranded_operations
from market.models import Market, SyncJob
from tests.builds.helpers import tar_gz, write_source

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def broker_gone_after_the_check() -> Iterator[None]:
    """queue_problem checks the broker named in the settings (the shared Redis, up);
    the Celery app sends to a port where nothing listens: as if Redis died between
    a request's check and its commit."""
    from portal.celery import app

    conf: Any = app.conf

    def reset_pools() -> None:
        # Celery keeps its connection and producer pools once made: drop both so
        # the next send connects to the URL set here.
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]

    before = conf.broker_url
    conf.broker_url = f"redis://127.0.0.1:{closed_port()}/0"
    reset_pools()
    try:
        yield
    finally:
        conf.broker_url = before
        reset_pools()


@pytest.fixture
def client(operator: Any) -> APIClient:
    api = APIClient()
    api.force_authenticate(operator)
    return api


@pytest.mark.usefixtures("gitops_repo", "broker_gone_after_the_check")
def test_an_install_is_accepted_and_left_to_the_reaper(
    client: APIClient, apps_market: Market, namespace: Namespace, settings: Any
) -> None:
    response = client.post(
        "/api/v1/namespaces/pay-prod/instances/",
        {"name": "shop", "market": "apps", "app": "web-app"},
        format="json",
    )

    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"]["id"])
    assert operation.state == "queued"
    settings.WORKFLOW_STALE_SECONDS = 0
    assert str(operation.pk) in stranded_operations()


@pytest.mark.usefixtures("broker_gone_after_the_check")
def test_a_sync_is_accepted_and_its_job_kept(
    client: APIClient, apps_market: Market, operator: Any
) -> None:
    operator.is_staff = True
    operator.save()

    response = client.post(f"/api/v1/markets/{apps_market.name}/sync/")

    assert response.status_code == 202, response.content
    assert SyncJob.objects.get(pk=response.json()["id"]).state == "queued"


@pytest.mark.usefixtures("broker_gone_after_the_check")
def test_a_build_is_accepted_and_kept_for_the_repair(
    client: APIClient, namespace: Namespace, tmp_path: Path
) -> None:
    response = client.post(
        "/api/v1/builds/",
        {"archive": SimpleUploadedFile("src.tgz", tar_gz(write_source(tmp_path)))},
        format="multipart",
    )

    assert response.status_code == 202, response.content
    assert Build.objects.get(pk=response.json()["id"]).state == "queued"
