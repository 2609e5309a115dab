"""Whether the task queue can take a message now.

Services that create work check it before writing anything, so that with the
broker down a request answers 503 and leaves no row behind; /healthz reports
the same check."""

from __future__ import annotations

from django.conf import settings


def queue_problem() -> str | None:
    """None when the broker answers, else the name of the error. Eager runs need no
    broker; the filesystem queue is a folder in the data directory."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    if not settings.REDIS_URL:
        return None if settings.QUEUE_DIR.is_dir() else "QueueDirMissing"
    import redis

    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1
        )
        client.ping()
    except redis.RedisError as exc:
        return type(exc).__name__
    return None


def queue_available() -> bool:
    return queue_problem() is None
