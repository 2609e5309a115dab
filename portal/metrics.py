"""The portal's own metrics, served at ``/metrics`` in the Prometheus text format
(SPEC section 10).

Where each number comes from decides how it is kept, since a production portal is
several web processes and several workers, possibly on several hosts:

- Request latency is only seen by the web process that served the request: a
  histogram filled by ``RequestMetricsMiddleware``. Under a pre-forking server
  (gunicorn) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder of that host: every
  process then writes its histogram there and any of them answers for all (prometheus
  client's multiprocess mode). Without it, one process (runserver, a threaded server)
  answers for itself.
- Everything else is shared state read when Prometheus asks, by ``PortalCollector``:
  operations by kind and state and instances by status (the database), messages
  waiting per queue (the broker), and the Kafka stream's counters, which every
  producing process writes to the database (telemetry/stream.py). Gauges computed at
  scrape time are right whichever process answers, and nothing has to be counted
  twice.

The metrics live in a registry of the portal's own, never prometheus_client's global
default one, so that nothing a library registers there leaks into ``/metrics``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from portal import seams
from portal.actors import client_ip
from portal.queue import queue_depths

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Methods Django serves; anything else is one label value, so that a client cannot
# grow the label set.
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REGISTRY = CollectorRegistry()

REQUEST_SECONDS = Histogram(
    "opsmarket_http_request_duration_seconds",
    "Time the portal took to answer a request, by method, URL pattern and status.",
    ["method", "route", "status"],
    # In multiprocess mode the values go to files that MultiProcessCollector reads.
    registry=None if _MULTIPROCESS else REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def _route(request: HttpRequest) -> str:
    """The URL pattern, not the path: one series per page, not per object."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return "/" + str(match.route).lstrip("^")


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        REQUEST_SECONDS.labels(method, _route(request), str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response


class PortalCollector(Collector):
    """Gauges and counters read from the database and the broker at scrape time.
    A source that fails is left out and said so in ``opsmarket_metrics_source_up``,
    so that a down broker does not cost the database's numbers."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "opsmarket_metrics_source_up",
            "Whether each source of these metrics could be read (1) or not (0).",
            labels=["source"],
        )
        for source, read in (
            ("database", self._database),
            ("queue", self._queue),
            ("kafka_stream", self._kafka),
        ):
            try:
                families = list(read())
            except Exception:  # a source being down is what the gauge above reports
                log.warning("metrics source %s unreadable", source, exc_info=True)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def _database(self) -> Iterable[Metric]:
        operations = GaugeMetricFamily(
            "opsmarket_operations",
            "Operations recorded, by kind and state.",
            labels=["kind", "state"],
        )
        for (kind, state), count in sorted(seams.operation_counts().items()):
            operations.add_metric([kind, state], count)
        instances = GaugeMetricFamily(
            "opsmarket_instances", "Instances, by status.", labels=["status"]
        )
        for status, count in sorted(seams.instance_counts().items()):
            instances.add_metric([status], count)
        return [operations, instances]

    def _queue(self) -> Iterable[Metric]:
        waiting = GaugeMetricFamily(
            "opsmarket_queue_messages",
            "Task messages waiting in the broker, by queue.",
            labels=["queue"],
        )
        for queue, count in sorted(queue_depths().items()):
            waiting.add_metric([queue], count)
        return [waiting]

    def _kafka(self) -> Iterable[Metric]:
        if not settings.KAFKA_BOOTSTRAP_SERVERS:
            return []
        summary = seams.kafka_stream_summary()
        delivered = CounterMetricFamily(
            "opsmarket_kafka_messages_delivered",
            "Metric samples delivered to the Kafka stream.",
            value=summary.delivered,
        )
        dropped = CounterMetricFamily(
            "opsmarket_kafka_messages_dropped",
            "Metric samples given up on: the send queue was full, they waited past "
            "KAFKA_MESSAGE_TIMEOUT_SECONDS, or Kafka refused them.",
            labels=["reason"],
        )
        for reason, count in sorted(summary.dropped.items()):
            dropped.add_metric([reason], count)
        backlog = GaugeMetricFamily(
            "opsmarket_kafka_backlog_messages",
            "Metric samples queued or in flight to Kafka.",
            value=summary.backlog,
        )
        producers = GaugeMetricFamily(
            "opsmarket_kafka_producers",
            "Processes that produced to the stream and reported lately.",
            value=summary.producers,
        )
        families: list[Metric] = [delivered, dropped, backlog, producers]
        if summary.connected is not None:
            families.append(
                GaugeMetricFamily(
                    "opsmarket_kafka_connected",
                    "Whether a producing process is connected to Kafka.",
                    value=1 if summary.connected else 0,
                )
            )
        return families


REGISTRY.register(PortalCollector())
if _MULTIPROCESS:
    MultiProcessCollector(REGISTRY)


def metrics_text() -> bytes:
    return generate_latest(REGISTRY)


def address_may_read_metrics(request: HttpRequest) -> bool:
    """Whether the client's address is in ``METRICS_ALLOW_FROM`` (default: loopback).
    The address is ``client_ip``'s: X-Forwarded-For counts only from trusted proxies."""
    address = client_ip(request)
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    # A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
    candidates = [ip] + ([ip.ipv4_mapped] if ip.version == 6 and ip.ipv4_mapped else [])
    return any(
        candidate in ipaddress.ip_network(cidr)
        for cidr in settings.METRICS_ALLOW_FROM
        for candidate in candidates
    )
