"""The header's bell: the unread count, read only when a template shows it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def unread_notifications(request: HttpRequest) -> dict[str, Any]:
    def count() -> int:
        from notifications.selectors import unread_count

        user = getattr(request, "user", None)
        return unread_count(user=user) if user is not None else 0

    return {"unread_notifications": SimpleLazyObject(count)}
