"""Scraping the exporters discovery found (SPEC section 10).

A round takes every ScrapeTarget with a URL and fetches them on a pool of
METRICS_SCRAPE_CONCURRENCY threads. Each fetch has a deadline of its own,
METRICS_SCRAPE_TIMEOUT_SECONDS from its start, enforced by a timer that shuts the
socket down: a socket timeout alone bounds each read, not the whole answer, and an
exporter dripping a byte every few seconds would hold its thread for ever. A body
past METRICS_MAX_BYTES is not read further. So a hanging, garbage or huge exporter
costs one thread its own timeout and is marked down with the reason; the others
are fetched, parsed and stored meanwhile.

Threads only fetch and parse. The round's own thread does every database and
storage write (Django connections are per thread), as results come in, and records
each target's health, last scrape, error, duration and sample count.

Pods are reached by IP, through the network guard's policy: private and loopback
addresses only when the cluster was added with allow_private_network, the cloud
metadata address never. The address is a literal, so no name can resolve elsewhere
between the check and the connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families

from market.netguard import resolve_checked
from market.storage.base import UnsafeLocation
from telemetry.models import ScrapeTarget, TargetHealth
from telemetry.samples import InstanceRef, Sample
from telemetry.storage import Batch, MetricsStore, metrics_store

log = logging.getLogger(__name__)

ACCEPT = "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
_READ_CHUNK = 64 * 1024
# Samples gathered from finished targets before they are stored in one call.
FLUSH_SAMPLES = 50_000
# Exporter timestamps further ahead than this are taken as wrong clocks (or lies):
# the scrape's own time is used instead, as for samples without one.
_FUTURE_SLACK_SECONDS = 300
OWN_LABELS = (
    "opsmarket_namespace",
    "opsmarket_instance",
    "opsmarket_app",
    "opsmarket_version",
    "pod",
)


class ScrapeFailed(Exception):
    """The target is down; the message says why in one line."""


@dataclass
class Scraped:
    """What one fetch and parse gave: samples, or the error that marks it down."""

    target_id: int
    started: float  # unix seconds
    duration: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class RoundReport:
    targets: int = 0
    up: int = 0
    down: int = 0
    samples: int = 0
    stored: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # address -> reason


def body_fetch(
    url: str, *, allow_private: bool, timeout: float, max_bytes: int
) -> tuple[str, bytes]:
    """GET ``url`` (http, an IP literal) within ``timeout`` seconds in all; answer its
    Content-Type and body. Raises ScrapeFailed with the reason otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 80
    try:
        address = resolve_checked(host, port, allow_private=allow_private, what="a cluster")[0]
    except UnsafeLocation as exc:
        raise ScrapeFailed(str(exc)) from None
    except OSError:
        raise ScrapeFailed(f"cannot resolve {host}") from None
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    cut = threading.Event()

    def cut_off() -> None:
        cut.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                # shutdown wakes a read blocked now; on Linux bytes the exporter
                # still sends stay readable, so the next read must not wait for
                # them (the body loop checks ``cut`` too).
                sock.settimeout(0.001)
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(timeout, cut_off)
    timer.daemon = True
    timer.start()
    try:
        connection.request(
            "GET",
            path,
            headers={
                "Host": parts.netloc,
                "Accept": ACCEPT,
                "Accept-Encoding": "identity",
                "User-Agent": "ops-market-scraper",
            },
        )
        response = connection.getresponse()
        if response.status != 200:
            raise ScrapeFailed(f"HTTP {response.status} {response.reason}"[:200])
        declared = response.getheader("Content-Length")
        if declared and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
            raise ScrapeFailed(f"body larger than {max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while not cut.is_set():
            chunk = response.read1(_READ_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise ScrapeFailed(f"body larger than {max_bytes} bytes")
            chunks.append(chunk)
        if cut.is_set():  # the shutdown looks like the end of the body: it is not
            raise ScrapeFailed(f"no complete answer within {timeout:g}s")
        return response.getheader("Content-Type") or "", b"".join(chunks)
    except ScrapeFailed:
        raise
    except (OSError, http.client.HTTPException) as exc:
        if cut.is_set() or isinstance(exc, TimeoutError):
            raise ScrapeFailed(f"no complete answer within {timeout:g}s") from None
        raise ScrapeFailed(_transport_error(exc)) from None
    finally:
        timer.cancel()
        connection.close()


def _transport_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.HTTPException):
        return f"not an HTTP answer ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"[:200]


def body_parse(
    body: bytes, content_type: str, *, instance: InstanceRef, pod: str, scraped_at: float
) -> tuple[list[Sample], list[str]]:
    """The samples of an exposition (OpenMetrics when the Content-Type says so, else
    the Prometheus text format), each with the opsmarket_* labels and ``pod``; and
    the family names the exporter declares. ScrapeFailed for what does not parse:
    a target gives all its samples or none."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ScrapeFailed("the body is not UTF-8 text") from None
    openmetrics = content_type.split(";", 1)[0].strip().lower() == "application/openmetrics-text"
    parse = openmetrics_families if openmetrics else text_families
    own = {
        "opsmarket_namespace": instance.namespace,
        "opsmarket_instance": instance.name,
        "opsmarket_app": instance.app,
        "opsmarket_version": instance.version,
        "pod": pod,
    }
    latest = scraped_at + _FUTURE_SLACK_SECONDS
    earliest = scraped_at - settings.METRICS_RETENTION_HOURS * 3600
    samples: list[Sample] = []
    names: list[str] = []
    try:
        for family in parse(text):
            if family.samples:
                names.append(family.name)
            for sample in family.samples:
                labels = dict(sample.labels)
                for name in OWN_LABELS:
                    # The exporter cannot pass its labels off as the portal's: kept
                    # under another name, as Prometheus does.
                    if name in labels:
                        labels[f"exported_{name}"] = labels.pop(name)
                labels.update(own)
                timestamp = scraped_at
                if sample.timestamp is not None:
                    exporter_time = float(sample.timestamp)
                    if earliest <= exporter_time <= latest:
                        timestamp = exporter_time
                samples.append(
                    Sample(
                        name=sample.name,
                        value=float(sample.value),
                        timestamp=timestamp,
                        type=family.type,
                        labels=labels,
                    )
                )
    except Exception as exc:  # the parsers raise ValueError, and worse on garbage
        what = "OpenMetrics" if openmetrics else "Prometheus text format"
        raise ScrapeFailed(f"not {what}: {str(exc)[:200]}") from None
    return samples, sorted(set(names))


def target_scrape(
    *, target_id: int, url: str, allow_private: bool, instance: InstanceRef, pod: str
) -> Scraped:
    """Fetch and parse one target (run in a pool thread: no database here)."""
    started = time.time()
    clock = time.monotonic()
    result = Scraped(target_id=target_id, started=started)
    try:
        content_type, body = body_fetch(
            url,
            allow_private=allow_private,
            timeout=float(settings.METRICS_SCRAPE_TIMEOUT_SECONDS),
            max_bytes=int(settings.METRICS_MAX_BYTES),
        )
        result.samples, result.names = body_parse(
            body, content_type, instance=instance, pod=pod, scraped_at=started
        )
    except ScrapeFailed as exc:
        result.error = str(exc)
    except Exception as exc:  # never let one target end the round
        log.exception("scraping %s failed unexpectedly", url)
        result.error = f"scrape failed: {type(exc).__name__}"
    result.duration = time.monotonic() - clock
    return result


def instance_ref(target: ScrapeTarget) -> InstanceRef:
    instance = target.instance
    return InstanceRef(
        namespace=instance.namespace.name,
        name=instance.name,
        app=instance.app_name,
        version=instance.version,
    )


def metrics_scrape_round(
    *,
    store: MetricsStore | None = None,
    targets: list[ScrapeTarget] | None = None,
    produce: Callable[[InstanceRef, str, list[Sample]], None] | None = None,
) -> RoundReport:
    """Scrape every target once.

    1. read the targets with a URL (and their instance, namespace and cluster);
    2. fetch and parse them on the thread pool, each within its own deadline;
    3. as each finishes: hand its samples to the Kafka stream when
       KAFKA_BOOTSTRAP_SERVERS is set, and store them with others (FLUSH_SAMPLES
       at a time), then record each target's health on its row.

    A storage or stream failure is logged and recorded on the target; it never
    stops the round.
    """
    store = store or metrics_store()
    produce = produce or _stream_producer()
    if targets is None:
        targets = list(
            ScrapeTarget.objects.exclude(url="").select_related(
                "instance", "instance__namespace", "instance__namespace__cluster"
            )
        )
    report = RoundReport(targets=len(targets))
    if not targets:
        return report
    by_id = {target.pk: target for target in targets}
    refs = {target.pk: instance_ref(target) for target in targets}
    workers = min(int(settings.METRICS_SCRAPE_CONCURRENCY), len(targets))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scrape") as pool:
        pending: set[Future[Scraped]] = set()
        for target in targets:
            cluster = target.instance.namespace.cluster
            pending.add(
                pool.submit(
                    target_scrape,
                    target_id=target.pk,
                    url=target.url,
                    allow_private=bool(cluster and cluster.allow_private_network),
                    instance=refs[target.pk],
                    pod=target.pod,
                )
            )
        unstored = _Unstored(store, report)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                scraped = future.result()
                target = by_id[scraped.target_id]
                ref = refs[target.pk]
                if scraped.error:
                    _record(scraped, target, report)
                    continue
                report.samples += len(scraped.samples)
                if produce is not None:
                    try:
                        # The URL scraped, as docs/metrics-stream.md shows it.
                        produce(ref, target.url, scraped.samples)
                    except Exception:  # a down Kafka never stops scraping or storing
                        log.warning("streaming samples of %s failed", target.address, exc_info=True)
                unstored.add(scraped, target, ref)
        unstored.flush()
    return report


class _Unstored:
    """Scraped samples waiting to be stored: written once FLUSH_SAMPLES gather (or
    at the round's end) in one call, a bulk request or two rather than one per
    target; their targets' rows are written after, with the storage's outcome."""

    def __init__(self, store: MetricsStore, report: RoundReport) -> None:
        self.store = store
        self.report = report
        self.waiting: list[tuple[Scraped, ScrapeTarget, InstanceRef]] = []
        self.count = 0

    def add(self, scraped: Scraped, target: ScrapeTarget, ref: InstanceRef) -> None:
        self.waiting.append((scraped, target, ref))
        self.count += len(scraped.samples)
        if self.count >= FLUSH_SAMPLES:
            self.flush()

    def flush(self) -> None:
        if not self.waiting:
            return
        error = ""
        try:
            self.report.stored += self.store.batches_store(
                batches=[Batch(t.instance_id, ref, s.samples) for s, t, ref in self.waiting]
            )
        except Exception as exc:  # storage down: the exporters are fine, say what failed
            log.warning("storing samples of %d targets failed", len(self.waiting), exc_info=True)
            error = f"scraped, but storing failed: {type(exc).__name__}"
        for scraped, target, _ref in self.waiting:
            _record(scraped, target, self.report, storing_error=error)
        self.waiting, self.count = [], 0


def _record(
    scraped: Scraped, target: ScrapeTarget, report: RoundReport, *, storing_error: str = ""
) -> None:
    error = scraped.error or storing_error
    fields: dict[str, object] = {
        "health": TargetHealth.DOWN if scraped.error else TargetHealth.UP,
        "last_scrape": dt.datetime.fromtimestamp(scraped.started, tz=dt.UTC),
        "last_error": error[:500],
        "last_duration": round(scraped.duration, 4),
    }
    if not scraped.error:
        fields["series"] = len(scraped.samples)
        fields["names"] = scraped.names
        report.up += 1
    else:
        report.down += 1
        report.errors[target.address] = error
    ScrapeTarget.objects.filter(pk=target.pk).update(**fields)


def _stream_producer() -> Callable[[InstanceRef, str, list[Sample]], None] | None:
    if not getattr(settings, "KAFKA_BOOTSTRAP_SERVERS", ""):
        return None
    try:
        from telemetry.stream import samples_produce
    except ImportError:  # pragma: no cover - the stream module ships with the app
        log.warning("KAFKA_BOOTSTRAP_SERVERS is set but telemetry.stream is missing")
        return None

    def produce(instance: InstanceRef, target: str, samples: list[Sample]) -> None:
        samples_produce(instance=instance, target=target, samples=samples)

    return produce
