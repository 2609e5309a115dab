"""Redis stopped: pages and reads still answer; new operations answer 503 with
Retry-After and leave no row behind. The Redis here is a private one this test
starts and stops, so the shared service keeps running for the other tests."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import Client
from rest_framework.test import APIClient

from deployments.models import Instance, Namespace, Operation
from market.models import Market
from portal.models import AuditEvent
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_redis(tmp_path: Path, settings: Any) -> Iterator[subprocess.Popen[bytes]]:
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    settings.REDIS_URL = settings.CELERY_BROKER_URL = url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}
    yield server
    server.kill()
    server.wait()


@pytest.mark.usefixtures("gitops_repo")
def test_with_redis_stopped_reads_answer_and_installs_get_503(
    private_redis: subprocess.Popen[bytes],
    apps_market: Market,
    namespace: Namespace,
    operator: Any,
) -> None:
    private_redis.kill()
    private_redis.wait()
    audit_before = AuditEvent.objects.count()

    browser = Client()
    assert (
        browser.post("/accounts/login/", {"username": "olga", "password": PASSWORD}).status_code
        == 302
    )
    for page in ("/", "/market/", "/market/apps/web-app/", "/instances/", "/api/v1/instances/"):
        assert browser.get(page).status_code == 200, page

    api = APIClient()
    api.force_authenticate(operator)
    response = api.post(
        "/api/v1/namespaces/pay-prod/instances/",
        {"name": "shop", "market": "apps", "app": "web-app"},
        format="json",
    )

    assert response.status_code == 503
    assert response["Retry-After"]
    assert response.json()["error"] == "unavailable"
    assert Instance.objects.count() == 0
    assert Operation.objects.count() == 0
    assert AuditEvent.objects.count() == audit_before
