"""Per-client counters of failed logins and failed token uses, in the shared cache."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def _key(kind: str, client: str) -> str:
    return f"authfail:{kind}:{client}"


def failures_exceeded(kind: str, client: str | None) -> bool:
    count = cache.get(_key(kind, client or "unknown"), 0)
    return int(count) >= settings.AUTH_FAILURE_LIMIT


def failure_record(kind: str, client: str | None) -> None:
    key = _key(kind, client or "unknown")
    # add() is a no-op when the key exists, so the window starts at the first failure.
    cache.add(key, 0, timeout=settings.AUTH_FAILURE_WINDOW_SECONDS)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.AUTH_FAILURE_WINDOW_SECONDS)
