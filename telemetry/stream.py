"""The Kafka stream of instance metrics (SPEC section 10).

Every scraped sample becomes one JSON message on ``KAFKA_METRICS_TOPIC``, keyed
``<namespace>/<instance>`` so that one instance's samples stay in order on one
partition (docs/metrics-stream.md shows a consumer).

A down Kafka never stops scraping or storing, so the scraper's call,
``samples_produce``, never blocks and never raises:

- Each process has one producer (librdkafka, through confluent-kafka), made on first
  use and made again after a fork (its threads do not survive one). It is idempotent:
  its own retries never write a message twice or out of order.
- ``produce`` only appends to the producer's bounded queue
  (``KAFKA_QUEUE_MAX_MESSAGES``). A sample that finds it full is dropped at once and
  counted (``queue_full``); waiting would stall the scraper behind the broker.
- librdkafka sends, reconnects and retries by itself. A message still undelivered
  ``KAFKA_MESSAGE_TIMEOUT_SECONDS`` after it was queued is dropped and counted
  (``message_timeout``); anything else that fails is counted as ``error``. So when
  Kafka comes back within the timeout the backlog is delivered, and whatever is lost
  is exactly the dropped count: every sample ends delivered or dropped.
- A side thread serves the delivery reports and, every
  ``KAFKA_REPORT_INTERVAL_SECONDS``, writes the process's counters to a
  ``StreamProducer`` row, where ``/healthz`` and ``/metrics`` (other processes, other
  hosts) read them (``stream_summary``).
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from django.conf import settings
from django.db import connection
from django.utils import timezone

from telemetry.samples import InstanceRef, Sample

log = logging.getLogger(__name__)

# Why a sample was not delivered; the names /healthz and /metrics show.
QUEUE_FULL = "queue_full"
MESSAGE_TIMEOUT = "message_timeout"
ERROR = "error"
DROP_REASONS = (QUEUE_FULL, MESSAGE_TIMEOUT, ERROR)

# The queue's bound in bytes too: 64 MiB, not librdkafka's 1 GiB, in a worker process.
QUEUE_MAX_KBYTES = 64 * 1024
# A producer row silent this long belongs to a process that ended; after a day it goes.
PRODUCER_FORGOTTEN_AFTER = timedelta(days=1)


def sample_message(*, instance: InstanceRef, target: str, sample: Sample) -> dict[str, Any]:
    """The JSON document of one sample (SPEC section 10). ``value`` is a number, or
    "NaN", "+Inf", "-Inf" as the text format writes them: JSON has no such numbers."""
    stamp = datetime.fromtimestamp(sample.timestamp, UTC)
    return {
        "@timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "name": sample.name,
        "value": _json_number(sample.value),
        "type": sample.type,
        "labels": dict(sample.labels),
        "instance": {
            "namespace": instance.namespace,
            "name": instance.name,
            "app": instance.app,
            "version": instance.version,
        },
        "target": target,
    }


def _json_number(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def message_key(instance: InstanceRef) -> str:
    return f"{instance.namespace}/{instance.name}"


@dataclass(frozen=True)
class StreamCounters:
    delivered: int
    dropped: dict[str, int]  # by reason, every reason present
    backlog: int  # queued or in flight, not yet delivered or dropped
    connected: bool | None  # None: no broker heard from or lost yet


@dataclass(frozen=True)
class StreamSummary:
    """The stream across every producing process (``stream_summary``)."""

    configured: bool
    connected: bool | None  # any live producer connected; None when none says
    producers: int  # processes that reported lately
    backlog: int
    delivered: int
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class MetricsStream:
    """One process's producer and its counters. Thread-safe: scrapes may run in
    threads; the delivery reports arrive on the stream's own thread."""

    def __init__(
        self,
        *,
        servers: str,
        message_timeout_seconds: int,
        queue_max_messages: int,
        report_interval_seconds: int,
    ) -> None:
        self.servers = servers
        self.pid = os.getpid()
        self.started_at = timezone.now()
        self.process_id = f"{socket.gethostname()}:{self.pid}:{self.started_at.timestamp():.3f}"
        self._lock = threading.Lock()
        self._delivered = 0
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self._connected: bool | None = None
        self._report_interval = report_interval_seconds
        self._producer = Producer(
            {
                "bootstrap.servers": servers,
                "client.id": f"ops-market-{socket.gethostname()}",
                # acks=all, unlimited retries within the timeout, no duplicates.
                "enable.idempotence": True,
                "message.timeout.ms": message_timeout_seconds * 1000,
                "queue.buffering.max.messages": queue_max_messages,
                "queue.buffering.max.kbytes": QUEUE_MAX_KBYTES,
                # A scrape yields its samples at once: batch them.
                "linger.ms": 50,
                "compression.type": "lz4",
                # A broker back after an outage is retried at most this far apart.
                "reconnect.backoff.max.ms": 5000,
                # Broker states for `connected`, also while nothing is produced.
                "statistics.interval.ms": 5000,
                "on_delivery": self._on_delivery,
                "error_cb": self._on_error,
                "stats_cb": self._on_stats,
                "logger": logging.getLogger("telemetry.kafka"),
            }
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="kafka-stream", daemon=True)
        self._thread.start()

    # --- producing ----------------------------------------------------------------

    def produce(
        self, *, topic: str, instance: InstanceRef, target: str, samples: list[Sample]
    ) -> None:
        key = message_key(instance).encode()
        for sample in samples:
            try:
                value = json.dumps(
                    sample_message(instance=instance, target=target, sample=sample),
                    allow_nan=False,
                    separators=(",", ":"),
                ).encode()
                self._producer.produce(
                    topic, value=value, key=key, timestamp=int(sample.timestamp * 1000)
                )
            except BufferError:
                # The queue is full: Kafka has been away for a while. Waiting for room
                # would stall the scraper; the newest sample is the one given up.
                self._count_dropped(QUEUE_FULL)
            except (KafkaException, ValueError, TypeError) as exc:
                # Too large, a bad value: this sample only.
                log.warning("sample %s of %s not produced: %s", sample.name, key, exc)
                self._count_dropped(ERROR)

    def _count_dropped(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._dropped[reason] += count

    # --- librdkafka callbacks (on the stream's thread) ------------------------------

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            with self._lock:
                self._delivered += 1
                self._connected = True
            return
        reason = MESSAGE_TIMEOUT if error.code() == KafkaError._MSG_TIMED_OUT else ERROR
        self._count_dropped(reason)
        if reason == ERROR:
            log.warning("a sample was not delivered to Kafka: %s", error.str())

    def _on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            with self._lock:
                self._connected = False
        # Transport errors repeat every few seconds while Kafka is down: quiet.
        level = logging.ERROR if error.fatal() else logging.INFO
        log.log(level, "kafka: %s", error.str())

    def _on_stats(self, stats_json: str) -> None:
        try:
            brokers = json.loads(stats_json).get("brokers", {})
        except ValueError:
            return
        up = any(broker.get("state") == "UP" for broker in brokers.values())
        with self._lock:
            # Stats cannot tell "never tried" from "down" before the first attempt.
            if up or self._connected is not None:
                self._connected = up

    # --- the stream's thread ----------------------------------------------------------

    def _serve(self) -> None:
        next_report = time.monotonic() + self._report_interval
        try:
            while not self._stop.is_set():
                self._producer.poll(0.2)
                if self._report_interval and time.monotonic() >= next_report:
                    next_report = time.monotonic() + self._report_interval
                    self._report_quietly()
        finally:
            if self._report_interval:
                self._report_quietly()
                connection.close()  # the thread's own connection

    def _report_quietly(self) -> None:
        try:
            self.report_save()
        except Exception:  # the database being away must not end the stream's thread
            log.warning("kafka stream counters not saved", exc_info=True)
            connection.close()

    # --- reading, reporting, closing ----------------------------------------------------

    def counters(self) -> StreamCounters:
        with self._lock:
            return StreamCounters(
                delivered=self._delivered,
                dropped=dict(self._dropped),
                backlog=len(self._producer),
                connected=self._connected,
            )

    def has_produced(self) -> bool:
        counters = self.counters()
        return bool(counters.delivered or counters.backlog or any(counters.dropped.values()))

    def report_save(self) -> None:
        """Write this process's counters to its ``StreamProducer`` row (a process that
        never produced writes none), and forget processes silent for a day."""
        from telemetry.models import StreamProducer

        if not self.has_produced():
            return
        counters = self.counters()
        now = timezone.now()
        StreamProducer.objects.update_or_create(
            process=self.process_id,
            defaults={
                "host": socket.gethostname()[:255],
                "pid": self.pid,
                "started_at": self.started_at,
                "reported_at": now,
                "connected": counters.connected,
                "backlog": counters.backlog,
                "delivered": counters.delivered,
                "dropped_queue_full": counters.dropped[QUEUE_FULL],
                "dropped_message_timeout": counters.dropped[MESSAGE_TIMEOUT],
                "dropped_error": counters.dropped[ERROR],
            },
        )
        StreamProducer.objects.filter(reported_at__lt=now - PRODUCER_FORGOTTEN_AFTER).delete()

    def probe(self, *, timeout: float) -> bool:
        """Whether a broker answers a metadata request within ``timeout`` seconds."""
        try:
            self._producer.list_topics(timeout=timeout)
        except KafkaException:
            return False
        return True

    def flush(self, *, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the backlog; returns what is left."""
        return int(self._producer.flush(timeout))

    def close(self, *, flush_seconds: float) -> None:
        """Deliver what can be within ``flush_seconds``, drop the rest (counted as
        ``error``: purged), stop the thread and report one last time."""
        if self._stop.is_set():
            return
        if self._producer.flush(flush_seconds):
            self._producer.purge()
            self._producer.flush(1)  # serves the purged messages' delivery reports
        self._stop.set()
        self._thread.join(timeout=5)


# --- the process's stream ---------------------------------------------------------------

_lock = threading.Lock()
_stream: MetricsStream | None = None
_stream_settings: tuple[str, int, int, int] | None = None


def _settings_key() -> tuple[str, int, int, int]:
    return (
        settings.KAFKA_BOOTSTRAP_SERVERS,
        settings.KAFKA_MESSAGE_TIMEOUT_SECONDS,
        settings.KAFKA_QUEUE_MAX_MESSAGES,
        settings.KAFKA_REPORT_INTERVAL_SECONDS,
    )


def _process_stream() -> MetricsStream:
    """This process's stream, made on first use, after a fork, or when the settings
    changed (tests)."""
    global _stream, _stream_settings
    with _lock:
        key = _settings_key()
        current = _stream
        if current is not None and current.pid == os.getpid():
            if _stream_settings == key:
                return current
            current.close(flush_seconds=0)
        # A stream inherited through a fork is left alone: its threads stayed behind.
        _stream = MetricsStream(
            servers=key[0],
            message_timeout_seconds=key[1],
            queue_max_messages=key[2],
            report_interval_seconds=key[3],
        )
        _stream_settings = key
        return _stream


def _local_stream() -> MetricsStream | None:
    current = _stream
    return current if current is not None and current.pid == os.getpid() else None


def samples_produce(instance: InstanceRef, target: str, samples: list[Sample]) -> None:
    """Queue ``samples`` of ``instance``, scraped from ``target``, for the metrics topic.

    Returns at once; never raises. Nothing happens without ``KAFKA_BOOTSTRAP_SERVERS``."""
    if not settings.KAFKA_BOOTSTRAP_SERVERS or not samples:
        return
    try:
        _process_stream().produce(
            topic=settings.KAFKA_METRICS_TOPIC, instance=instance, target=target, samples=samples
        )
    except Exception:  # a broken stream must never break scraping or storing
        log.warning("samples of %s not streamed to Kafka", message_key(instance), exc_info=True)


def stream_counters() -> StreamCounters | None:
    """This process's counters, or None when it has no stream."""
    current = _local_stream()
    return current.counters() if current is not None else None


def stream_flush(*, timeout: float) -> int:
    """Wait up to ``timeout`` seconds for this process's backlog; returns what is left
    (a worker shutting down, the tests)."""
    current = _local_stream()
    return current.flush(timeout=timeout) if current is not None else 0


def stream_probe(*, timeout: float = 1.0) -> bool | None:
    """Whether Kafka answers this process now; None when no stream is configured."""
    if not settings.KAFKA_BOOTSTRAP_SERVERS:
        return None
    try:
        return _process_stream().probe(timeout=timeout)
    except Exception:
        log.warning("kafka probe failed", exc_info=True)
        return False


def stream_close(*, flush_seconds: float = 5.0) -> None:
    """Close this process's stream (at exit, and between tests)."""
    global _stream
    with _lock:
        current = _local_stream()
        _stream = None
    if current is not None:
        current.close(flush_seconds=flush_seconds)


atexit.register(stream_close)


def stream_summary() -> StreamSummary:
    """The stream's numbers across every process: totals over every producer row, the
    backlog and connection of those that reported lately; this process's own counters
    are read live instead of from its row."""
    from telemetry.models import StreamProducer

    configured = bool(settings.KAFKA_BOOTSTRAP_SERVERS)
    local = _local_stream()
    rows = StreamProducer.objects.all()
    if local is not None:
        rows = rows.exclude(process=local.process_id)
    live_after = timezone.now() - timedelta(
        seconds=max(60, 3 * settings.KAFKA_REPORT_INTERVAL_SECONDS)
    )
    delivered = 0
    dropped = dict.fromkeys(DROP_REASONS, 0)
    backlog = 0
    producers = 0
    connected: list[bool] = []
    for row in rows:
        delivered += row.delivered
        dropped[QUEUE_FULL] += row.dropped_queue_full
        dropped[MESSAGE_TIMEOUT] += row.dropped_message_timeout
        dropped[ERROR] += row.dropped_error
        if row.reported_at >= live_after:
            producers += 1
            backlog += row.backlog
            if row.connected is not None:
                connected.append(row.connected)
    if local is not None and local.has_produced():
        counters = local.counters()
        producers += 1
        delivered += counters.delivered
        backlog += counters.backlog
        for reason, count in counters.dropped.items():
            dropped[reason] += count
        if counters.connected is not None:
            connected.append(counters.connected)
    return StreamSummary(
        configured=configured,
        connected=any(connected) if connected else None,
        producers=producers,
        backlog=backlog,
        delivered=delivered,
        dropped=dropped,
    )
