"""The Celery app `portal` (SPEC section 4): `celery -A portal worker|beat`."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender: Any = None, **kwargs: Any) -> None:
    """Around each task, what Django does around each request: close a connection
    that is past CONN_MAX_AGE or broken (a database restart), keep the others. With
    CELERY_DB_REUSE_MAX set, Celery's own fixup no longer closes them every task."""
    # An eager task runs inside its caller, maybe in its transaction: leave it be.
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
