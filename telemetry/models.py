from __future__ import annotations

from django.db import models


class StreamProducer(models.Model):
    """The Kafka stream's counters of one producing process (telemetry/stream.py).

    Samples are produced in whichever worker process scraped them, and a process's
    counters live in its memory; each one writes them here now and then, so that
    /healthz and /metrics, answered by any web process on any host, can add them up.
    A row no longer written is a process that ended: its counts still count (they are
    totals), its backlog and connection no longer do."""

    # host:pid:start, unique per process even when a pid is reused.
    process = models.CharField(max_length=300, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    reported_at = models.DateTimeField(db_index=True)
    # None until the producer has heard from (or lost) a broker.
    connected = models.BooleanField(null=True)
    backlog = models.PositiveIntegerField(default=0)
    delivered = models.PositiveBigIntegerField(default=0)
    dropped_queue_full = models.PositiveBigIntegerField(default=0)
    dropped_message_timeout = models.PositiveBigIntegerField(default=0)
    dropped_error = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return self.process
