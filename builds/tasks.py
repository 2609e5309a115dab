"""Celery tasks of the builds app: thin wrappers that take ids and call services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from builds.models import Build


# A build may take BUILD_TIMEOUT_SECONDS (git fetches, rendering, packing); past it
# builds_repair_task fails a build still marked running, which the soft limit leaves.
@shared_task(
    ignore_result=True,
    soft_time_limit=settings.BUILD_TIMEOUT_SECONDS,
    time_limit=settings.BUILD_TIMEOUT_SECONDS + 60,
)
def build_run_task(build_id: int) -> None:
    from builds.services.execute import build_execute

    # Compare-and-set: a redelivered message finds the build no longer queued.
    claimed = Build.objects.filter(pk=build_id, state=Build.State.QUEUED).update(
        state=Build.State.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return
    build = Build.objects.select_related("publish_market", "created_by").get(pk=build_id)
    build_execute(build=build)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=120)
def builds_repair_task() -> None:
    """Periodic: a build whose message was lost stays queued, one whose worker died
    stays running. Queue the first again; fail the second."""
    from builds.services.execute import builds_repair

    builds_repair()
