"""Search bookkeeping: the outbox of documents still to (re)index."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PendingIndex(models.Model):
    """A document that must be brought up to date in Elasticsearch.

    Written in the same transaction as the change it follows (search.services.indexing.
    index_later), deleted once the document is indexed. Rows left behind — the
    search server was down, a task message was lost — are indexed again by the
    periodic repair task. Not unique per key: an insert never waits on another
    transaction's lock, and a change made while a task runs keeps its own row."""

    kind = models.CharField(max_length=16)
    key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["kind", "key"], name="pendingindex_kind_key")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"
