"""Proof that a worker holding a claimed row is alive.

Workers claim rows (operations, sync jobs) by compare-and-set and then write the
row's ``heartbeat_at`` now and then; a periodic repair takes back a row whose
heartbeat is older than its stale age, because the worker that held it is gone
(SIGKILL, OOM, a lost node). The work itself may block for minutes in one call (a
large fetch), so the beat comes from a thread of its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

log = logging.getLogger(__name__)


@contextmanager
def heartbeat(rows: QuerySet[Any], *, every: float, name: str) -> Iterator[None]:
    """While the block runs, set ``heartbeat_at`` of ``rows`` to now every ``every``
    seconds from a side thread. ``rows`` should select the row only while it is still
    held (e.g. ``state=running``), so a late beat never touches a finished row."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                rows.update(heartbeat_at=timezone.now())
        except Exception:  # a missed beat only risks a duplicate claim, which is safe
            log.warning("heartbeat of %s failed", name, exc_info=True)
        finally:
            connection.close()  # the thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-{name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
