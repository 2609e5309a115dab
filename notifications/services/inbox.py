"""The portal inbox: marking notifications read. Reading is not audited (it
changes nothing anyone else sees); it is the user's own state, like a session."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from notifications.models import Notification


def notification_read(*, user: Any, notification: Notification) -> Notification:
    """Mark one of the user's notifications read (again: harmless)."""
    if notification.user_id != user.pk:
        raise Notification.DoesNotExist
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = now
    return notification


def notifications_read_all(*, user: Any) -> int:
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )
