"""Per-client counters of failed logins and failed token uses (issue 11).

Invariants:

- Counting is one atomic statement (an upsert on ``AuthFailureCount``) on every
  database, so parallel attempts never lose an increment, whatever the cache is.
- A login counts itself as a failure before the password is checked and is
  forgiven when the password was right: of N parallel wrong logins exactly the limit get
  their password checked, and successes are never counted.
- A token is looked up first (a sha256 index hit, cheap and unguessable), and only
  a failed lookup is counted: a valid token is never refused because others
  failed from the same address (one proxy address for every client, say).
- A window starts at a client's first failure and lasts
  ``AUTH_FAILURE_WINDOW_SECONDS``; the first failure after it starts a new one.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from portal.models import AuthFailureCount

_TABLE = AuthFailureCount._meta.db_table

# PostgreSQL and SQLite (3.35+) both speak this upsert with RETURNING. A row whose
# window has passed restarts at 1 with a new window, in the same statement.
_COUNT_ONE = f"""
INSERT INTO {_TABLE} (key, window_start, count) VALUES (%s, %s, 1)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN {_TABLE}.window_start < %s THEN 1 ELSE {_TABLE}.count + 1 END,
    window_start = CASE WHEN {_TABLE}.window_start < %s
        THEN excluded.window_start ELSE {_TABLE}.window_start END
RETURNING count
"""  # noqa: S608 - the table name is ours; every value is a parameter


def _key(kind: str, client: str | None) -> str:
    return f"{kind}:{client or 'unknown'}"[:200]


def _count_one(kind: str, client: str | None) -> int:
    """Add one to the client's count in the current window; return the new count."""
    now = timezone.now()
    expired_before = now - timedelta(seconds=settings.AUTH_FAILURE_WINDOW_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_ONE, [_key(kind, client), now, expired_before, expired_before])
        count = int(cursor.fetchone()[0])
    if count == 1:
        # A new window: forget everyone's finished windows, so the table holds
        # only the addresses that failed recently (once per window, not per call).
        AuthFailureCount.objects.filter(window_start__lt=expired_before).delete()
    return count


def failure_record(kind: str, client: str | None) -> bool:
    """Count one failure; True while the client is within the limit (this failure
    included), False once it is over: answer 429 and check nothing.

    A login calls it *before* checking the password (a presumed failure) and
    ``failure_forgive`` when the password was right, so parallel guesses cannot all
    pass a check-then-count race."""
    return _count_one(kind, client) <= settings.AUTH_FAILURE_LIMIT


def failure_forgive(kind: str, client: str | None) -> None:
    """Take back one presumed failure (the attempt succeeded)."""
    AuthFailureCount.objects.filter(key=_key(kind, client), count__gt=0).update(
        count=F("count") - 1
    )
