"""Every Celery task of the portal has a soft and a hard time limit: a task that
never ends would hold a worker slot for good."""

from __future__ import annotations

from portal.celery import app


def test_every_registered_task_has_a_soft_and_a_hard_time_limit() -> None:
    app.loader.import_default_modules()  # autodiscovery: every app's tasks module
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}

    assert {"deployments.tasks.operation_run_task", "builds.tasks.build_run_task"} <= set(ours)
    missing = [
        name
        for name, task in sorted(ours.items())
        if not (task.soft_time_limit and task.time_limit and task.soft_time_limit < task.time_limit)
    ]
    assert missing == []
