"""Render limits after publish (SPEC section 11): templates that only explode with the
user's values are refused with ``render_limit`` by the upgrade dry run in the web
process and by the render step of a real Celery worker, which stays free for the
next operation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from deployments.models import Instance, Namespace, Operation
from deployments.services.instances import instance_install
from market.models import Market
from market.package import build_package
from market.services.publish import package_publish
from market.services.sync import market_sync
from portal.actors import Actor
from tests.deployments.apps import write
from tests.deployments.conftest import files_under
from tests.deployments.worker import celery_worker, new_queue, wait_for
from tests.market.helpers import local_market

URL = "/api/v1/namespaces/pay-prod/instances/"

# Harmless with the defaults (so it publishes), hostile with large values.
BOMB_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ instance.name }}
data:
  text: "{{ 'ab' * values.repeat }}"
{% for a in range(values.loops) %}{% for b in range(values.loops) %}\
{% for c in range(values.loops) %}{% endfor %}{% endfor %}{% endfor %}
"""

SCHEMA = {
    "type": "object",
    "properties": {"repeat": {"type": "integer"}, "loops": {"type": "integer"}},
}


def bomb_market(tmp_path: Path) -> Market:
    market = local_market(tmp_path, "bombs")
    for version in ("1.0.0", "1.1.0"):
        files = {
            "manifest.yaml": (
                f'schema: 1\nname: bomb\nversion: "{version}"\ntitle: Bomb\n'
                "summary: renders big with big values\ncategory: testing\nlicense: MIT\n"
            ),
            "values.yaml": "repeat: 1\nloops: 1\n",
            "values.schema.json": json.dumps(SCHEMA),
            "templates/config.yaml": BOMB_TEMPLATE,
        }
        folder = write(tmp_path / "src" / version, files)
        built = build_package(folder, out_dir=tmp_path / "built")
        package_publish(actor=Actor.system(), market=market, data=built.path.read_bytes())
    market_sync(market=market)
    return market


@pytest.fixture
def bombs(db: None, tmp_path: Path, settings: Any) -> Market:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    settings.RENDER_TIMEOUT_SECONDS = 2
    return bomb_market(tmp_path)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks", "gitops_repo")
@pytest.mark.parametrize("values", [{"repeat": 10**8}, {"loops": 100000}])
def test_upgrade_dry_run_past_a_render_limit_answers_400_render_limit(
    bombs: Market, namespace: Namespace, operator: Any, values: dict[str, int]
) -> None:
    api = APIClient()
    api.force_authenticate(operator)
    installed = api.post(
        URL, {"name": "b", "market": "bombs", "app": "bomb", "version": "1.0.0"}, format="json"
    )
    assert installed.status_code == 202, installed.json()

    response = api.post(
        URL + "b/upgrade/?dry_run=1", {"version": "1.1.0", "values": values}, format="json"
    )

    assert response.status_code == 400, response.json()
    assert response.json()["error"] == "render_limit"
    assert "bomb 1.1.0 exceeds a render limit" in response.json()["detail"]
    assert Operation.objects.filter(kind="upgrade").count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.services
@pytest.mark.slow
def test_worker_refuses_a_render_past_a_limit_and_stays_free(
    tmp_path: Path, settings: Any, bombs: Market, namespace: Namespace, operator: Any
) -> None:
    settings.WORKFLOW_QUEUE = queue = new_queue()
    data_dir = tmp_path / "data"
    settings.GITOPS_DIR = data_dir / "gitops"
    actor = Actor(user=operator)

    def finished(operation_id: Any, worker: Any) -> Operation:
        def done() -> Operation | None:
            operation = Operation.objects.get(pk=operation_id)
            return None if operation.is_active else operation

        return wait_for(done, what=f"operation {operation_id}", timeout=90, worker=worker)

    with celery_worker(data_dir, queue, env={"RENDER_TIMEOUT_SECONDS": "2"}) as worker:
        looping = instance_install(
            actor=actor,
            namespace=namespace,
            market=bombs,
            name="loops",
            app="bomb",
            version="1.0.0",
            values={"loops": 100000},
        )
        flooding = instance_install(
            actor=actor,
            namespace=namespace,
            market=bombs,
            name="flood",
            app="bomb",
            version="1.0.0",
            values={"repeat": 10**8},
        )
        failed_loops = finished(looping.operation.pk, worker)
        failed_flood = finished(flooding.operation.pk, worker)
        ordinary = instance_install(
            actor=actor,
            namespace=namespace,
            market=bombs,
            name="fine",
            app="bomb",
            version="1.0.0",
        )
        done = finished(ordinary.operation.pk, worker)

    assert failed_loops.state == "failed", failed_loops.error
    assert "render_limit" in failed_loops.error and "longer than 2 seconds" in failed_loops.error
    assert failed_flood.state == "failed", failed_flood.error
    assert "render_limit" in failed_flood.error
    assert Instance.objects.get(name="loops").status == "failed"
    assert done.state == "succeeded", done.error
    assert sorted(files_under(data_dir / "gitops", "pay-prod/fine")) == ["config.yaml"]
    assert files_under(data_dir / "gitops", "pay-prod/loops") == {}
