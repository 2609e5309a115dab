"""Whether the task queue can take a message now.

Services that create work check it before writing anything, so that with the
broker down a request answers 503 and leaves no row behind."""

from __future__ import annotations

from django.conf import settings


def queue_available() -> bool:
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.REDIS_URL:
        # Eager runs need no broker; the filesystem queue is a local folder.
        return True
    import redis

    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1
        )
        return bool(client.ping())
    except redis.RedisError:
        return False
