"""A worker process keeps its database connection from one task to the next, as a
web process keeps it from one request to the next (CONN_MAX_AGE), instead of
Celery's default of a new PostgreSQL connection per task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from deployments.models import Namespace, Operation
from deployments.services.instances import instance_install
from market.models import Market
from portal.actors import Actor
from tests.deployments.worker import celery_worker, new_queue, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.services,
    pytest.mark.slow,
]


def _other_backends() -> dict[int, Any]:
    """PostgreSQL backends on the test database other than this test's own: pid ->
    when it last changed state (the end of its last statement)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state_change FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return dict(cursor.fetchall())


def test_a_worker_keeps_its_database_connection_from_one_operation_to_the_next(
    settings: Any,
    tmp_path: Path,
    apps_market: Market,
    namespace: Namespace,
    operator: Any,
) -> None:
    """Closed after every task (Celery's Django fixup), each operation would start a
    PostgreSQL backend and authenticate again. Kept, the second operation runs on the
    connection the first one opened."""
    settings.WORKFLOW_QUEUE = new_queue()
    data_dir = tmp_path / "data"
    settings.GITOPS_DIR = data_dir / "gitops"
    actor = Actor(user=operator)

    def install(name: str, worker: Any) -> Operation:
        requested = instance_install(
            actor=actor, namespace=namespace, market=apps_market, name=name, app="redis-lite"
        )

        def done() -> Operation | None:
            operation = Operation.objects.get(pk=requested.operation.pk)
            return None if operation.is_active else operation

        return wait_for(done, what=f"install {name}", timeout=90, worker=worker)

    with celery_worker(data_dir, settings.WORKFLOW_QUEUE) as worker:
        assert install("one", worker).state == "succeeded"
        after_first = _other_backends()
        assert after_first, "the worker closed its connection after the task"
        second = install("two", worker)
        after_second = _other_backends()

    assert second.state == "succeeded"
    used = [pid for pid, at in after_second.items() if at and at >= second.created_at]
    assert used, after_second
    assert set(used) <= set(after_first), (after_first, after_second)
