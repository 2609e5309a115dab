"""The task queue: whether it can take a message now, and the one way to send one.

Services that create work check ``queue_problem`` before writing anything, so that
with the broker down a request answers 503 and leaves no row behind; /healthz
reports the same check. Work is then sent with ``enqueue_on_commit``: the row the
service wrote is the truth and the message only a nudge, so a broker that fails
between the check and the send is logged, never raised, and each kind of row has
a periodic repair task that sends what is still waiting."""

from __future__ import annotations

import logging
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)


def enqueue_on_commit(task: Any, *args: Any, queue: str | None = None) -> None:
    """Send ``task(*args)`` once the current transaction commits (at once outside one).

    Never raises for the broker: by then the change is committed, and an error
    would turn it into a 500 the user reads as "nothing happened". Callers keep
    their rows findable by a repair task (operations: the reaper; sync jobs,
    builds, the search outbox: their repair tasks)."""
    options = {"queue": queue} if queue else {}

    def send() -> None:
        try:
            task.apply_async(args, **options)
        except Exception:  # any broker or transport error: the repair task sends it later
            log.warning(
                "could not queue %s%r; its repair task will", task.name, args, exc_info=True
            )

    transaction.on_commit(send)


def backoff_countdown(retries: int, *, base: int, cap: int) -> int:
    """Seconds before a task's retry number ``retries + 1``: ``base`` doubling with
    each retry, at most ``cap`` (the exponent is bounded so a long run cannot overflow)."""
    return int(min(base * 2 ** min(retries, 20), cap))


def queue_problem() -> str | None:
    """None when the broker answers, else the name of the error. Eager runs need no
    broker; the filesystem queue is a folder in the data directory."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    if not settings.REDIS_URL:
        return None if settings.QUEUE_DIR.is_dir() else "QueueDirMissing"
    import redis

    try:
        _broker(settings.CELERY_BROKER_URL).ping()
    except redis.RedisError as exc:
        return type(exc).__name__
    return None


@cache
def _broker(url: str) -> Redis:
    """One client per broker URL for the process. Every request that creates work
    asks ``queue_problem`` first: a client of its own each time opened a connection
    for one PING (a tenth of an install request's CPU, bench/workflow.py). The pool
    reconnects after an error and opens new connections in a forked child."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def queue_available() -> bool:
    return queue_problem() is None


# kombu's Redis transport keeps each priority band of a queue in a list of its own:
# the queue's name, then the name, "\x06\x16" and the band (priority_steps 0, 3, 6, 9).
_REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def queue_depths() -> dict[str, int]:
    """Messages waiting in each queue the portal sends to, for /metrics. Reads the
    broker directly (no worker involved); raises when the broker cannot be read."""
    names = sorted(
        {"celery", settings.MARKET_SYNC_QUEUE, settings.WORKFLOW_QUEUE, settings.NOTIFY_QUEUE}
    )
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return dict.fromkeys(names, 0)
    if not settings.REDIS_URL:
        # portal.broker names each message "<stamp>_<uuid>.<queue>.msg".
        depths = dict.fromkeys(names, 0)
        for path in (settings.QUEUE_DIR / "messages").glob("*.msg"):
            queue = path.name.partition(".")[2].removesuffix(".msg")
            if queue in depths:
                depths[queue] += 1
        return depths
    with _broker(settings.CELERY_BROKER_URL).pipeline(transaction=False) as pipe:
        for name in names:
            for suffix in _REDIS_PRIORITY_SUFFIXES:
                pipe.llen(name + suffix)
        lengths = pipe.execute()
    per = len(_REDIS_PRIORITY_SUFFIXES)
    return {name: sum(lengths[i * per : (i + 1) * per]) for i, name in enumerate(names)}
