"""Celery tasks of the notifications app: thin wrappers that take ids and call services."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(
    bind=True,
    ignore_result=True,
    max_retries=None,  # the count lives on the delivery (NOTIFY_MAX_RETRIES), not here
    # One e-mail or one POST, each bounded by its own timeout (EMAIL_TIMEOUT,
    # NOTIFY_WEBHOOK_TIMEOUT_SECONDS to connect and again to read). Cut short, the
    # delivery stays "sending" and the repair task hands it back.
    soft_time_limit=120,
    time_limit=150,
)
def delivery_send_task(self: Any, delivery_id: int) -> None:
    from notifications.services.delivery import delivery_attempt

    countdown = delivery_attempt(delivery_id=delivery_id)
    if countdown is not None:
        raise self.retry(countdown=countdown)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def operation_failed_task(operation_id: str) -> None:
    """Queued by the workflow engine once an operation's failure has committed."""
    from notifications.services.detection import operation_failed_notify

    operation_failed_notify(operation_id=operation_id)


@shared_task(ignore_result=True, soft_time_limit=300, time_limit=360)
def notifications_scan_task() -> None:
    """Periodic (beat schedule in settings): new versions, advisories, yanked
    versions of deployed instances, and failed operations whose event is missing."""
    from notifications.services.detection import instances_scan

    instances_scan()


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def notifications_repair_task() -> None:
    """Periodic: send again deliveries whose message or worker was lost."""
    from notifications.services.delivery import deliveries_repair

    deliveries_repair()
