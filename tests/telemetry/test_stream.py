"""The Kafka metrics stream on a real broker (SPEC section 10): the message each
sample becomes, and what a broker that goes away does to the scraper (nothing) and
to the samples (delivered when it comes back, or dropped and counted exactly)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from telemetry.models import MetricPoint, StreamProducer
from telemetry.samples import InstanceRef, Sample
from telemetry.scrape import metrics_scrape_round
from telemetry.stream import (
    ERROR,
    MESSAGE_TIMEOUT,
    QUEUE_FULL,
    samples_produce,
    stream_close,
    stream_counters,
    stream_flush,
)
from tests.telemetry.conftest import cluster_row, deployed, kube_namespace, scrape_target
from tests.telemetry.kafka_support import PrivateBroker, kafka_servers, names_of, read_topic
from tests.telemetry.support import exporter, requests_registry

pytestmark = [pytest.mark.services, pytest.mark.slow]

INSTANCE = InstanceRef(namespace="team-a", name="web", app="nginx-exporter", version="1.4.2")
TARGET = "http://10.1.2.3:9113/metrics"
OPSMARKET_LABELS = {
    "opsmarket_namespace": "team-a",
    "opsmarket_instance": "web",
    "opsmarket_app": "nginx-exporter",
    "opsmarket_version": "1.4.2",
    "pod": "web-0",
}


def batch(prefix: str, count: int) -> list[Sample]:
    return [
        Sample(
            name=f"{prefix}_{i}",
            value=float(i),
            timestamp=time.time(),
            type="gauge",
            labels=OPSMARKET_LABELS,
        )
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    kafka_servers()  # skip first when there is no Kafka at all
    broker = PrivateBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def private_stream(settings: Any, private_broker: PrivateBroker) -> Iterator[Any]:
    settings.KAFKA_BOOTSTRAP_SERVERS = private_broker.servers
    settings.KAFKA_METRICS_TOPIC = f"test-metrics-{uuid4().hex[:12]}"
    settings.KAFKA_REPORT_INTERVAL_SECONDS = 0
    yield settings
    stream_close(flush_seconds=0)
    if private_broker.process is None:
        private_broker.start()  # a failed test leaves it running for the next


def test_each_sample_is_one_json_message_keyed_by_its_instance(stream):
    samples = [
        Sample(
            name="http_requests_total",
            value=1027.0,
            timestamp=1767225600.25,
            type="counter",
            labels={"code": "200", "method": "get", **OPSMARKET_LABELS},
        ),
        Sample(
            name="temperature_celsius",
            value=float("nan"),
            timestamp=1767225601.0,
            type="gauge",
            labels=OPSMARKET_LABELS,
        ),
    ]

    samples_produce(INSTANCE, TARGET, samples)
    assert stream_flush(timeout=60) == 0

    messages = read_topic(stream.KAFKA_BOOTSTRAP_SERVERS, stream.KAFKA_METRICS_TOPIC, expect=2)
    instance = {"namespace": "team-a", "name": "web", "app": "nginx-exporter", "version": "1.4.2"}
    assert messages == [
        (
            "team-a/web",
            {
                "@timestamp": "2026-01-01T00:00:00.250Z",
                "name": "http_requests_total",
                "value": 1027.0,
                "type": "counter",
                "labels": {"code": "200", "method": "get", **OPSMARKET_LABELS},
                "instance": instance,
                "target": TARGET,
            },
        ),
        (
            "team-a/web",
            {
                "@timestamp": "2026-01-01T00:00:01.000Z",
                "name": "temperature_celsius",
                "value": "NaN",  # JSON has no NaN: the text format's spelling
                "type": "gauge",
                "labels": OPSMARKET_LABELS,
                "instance": instance,
                "target": TARGET,
            },
        ),
    ]
    counters = stream_counters()
    assert counters is not None
    assert counters.delivered == 2
    assert counters.connected is True


def test_nothing_is_produced_without_bootstrap_servers(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    stream_close(flush_seconds=0)

    samples_produce(INSTANCE, TARGET, batch("unsent", 3))

    assert stream_counters() is None


def test_a_broker_that_goes_away_and_comes_back_gets_the_whole_backlog(
    private_stream, private_broker
):
    samples_produce(INSTANCE, TARGET, batch("before", 5))
    assert stream_flush(timeout=60) == 0

    private_broker.stop()
    started = time.monotonic()
    for round_ in range(20):
        samples_produce(INSTANCE, TARGET, batch(f"down{round_}", 50))
    producing = time.monotonic() - started
    # Producing only queues: 1,000 samples take milliseconds. Waiting for the broker
    # would take the whole message timeout (300 s); the bound sits far between.
    assert producing < 10
    counters = stream_counters()
    assert counters is not None
    assert counters.backlog == 1000
    assert sum(counters.dropped.values()) == 0

    private_broker.start()
    assert stream_flush(timeout=120) == 0

    counters = stream_counters()
    assert counters is not None
    assert counters.delivered == 1005
    assert counters.dropped == {QUEUE_FULL: 0, MESSAGE_TIMEOUT: 0, ERROR: 0}
    assert counters.connected is True
    messages = read_topic(private_broker.servers, private_stream.KAFKA_METRICS_TOPIC, expect=1005)
    # Every sample once: the idempotent producer's retries wrote no duplicates.
    assert Counter(Counter(names_of(messages)).values()) == {1: 1005}


def test_what_waited_past_the_timeout_or_found_the_queue_full_is_exactly_the_dropped_count(
    private_stream, private_broker
):
    private_stream.KAFKA_MESSAGE_TIMEOUT_SECONDS = 3
    private_stream.KAFKA_QUEUE_MAX_MESSAGES = 40
    samples_produce(INSTANCE, TARGET, batch("before", 5))
    assert stream_flush(timeout=60) == 0

    private_broker.stop()
    samples_produce(INSTANCE, TARGET, batch("lost", 50))  # 40 fit the queue, 10 do not
    counters = stream_counters()
    assert counters is not None
    assert counters.dropped[QUEUE_FULL] == 10
    assert counters.backlog == 40
    deadline = time.monotonic() + 60
    while (counters := stream_counters()) and counters.backlog and time.monotonic() < deadline:
        time.sleep(0.5)
    assert counters is not None
    assert counters.backlog == 0
    assert counters.dropped == {QUEUE_FULL: 10, MESSAGE_TIMEOUT: 40, ERROR: 0}
    assert counters.connected is False

    private_broker.start()
    samples_produce(INSTANCE, TARGET, batch("after", 5))
    assert stream_flush(timeout=120) == 0

    counters = stream_counters()
    assert counters is not None
    assert counters.delivered == 10
    assert counters.delivered + sum(counters.dropped.values()) == 60
    messages = read_topic(private_broker.servers, private_stream.KAFKA_METRICS_TOPIC, expect=10)
    assert sorted(names_of(messages)) == sorted(
        [f"before_{i}" for i in range(5)] + [f"after_{i}" for i in range(5)]
    )


@pytest.mark.django_db
def test_healthz_shows_the_stream_connected_and_what_it_delivered(stream, client):
    samples_produce(INSTANCE, TARGET, batch("seen", 7))
    assert stream_flush(timeout=60) == 0

    kafka = client.get("/healthz").json()["kafka"]

    assert kafka == {
        "ok": True,
        "configured": True,
        "connected": True,
        "producers": 1,
        "backlog": 0,
        "delivered": 7,
        "dropped": 0,
        "dropped_by_reason": {QUEUE_FULL: 0, MESSAGE_TIMEOUT: 0, ERROR: 0},
    }


PRODUCE_IN_ANOTHER_PROCESS = """
import django, sys
django.setup()
from telemetry.samples import InstanceRef, Sample
from telemetry.scrape import metrics_scrape_round
from telemetry.stream import samples_produce, stream_close
instance = InstanceRef("team-b", "db", "pg-exporter", "2.0.0")
samples_produce(instance, "http://10.9.9.9:9187/metrics",
                [Sample(f"pg_{i}", 1.0, 1767225600.0, "gauge", {}) for i in range(4)])
stream_close(flush_seconds=60)  # delivers, then reports one last time
"""


@pytest.mark.django_db(transaction=True)
def test_healthz_and_metrics_add_up_what_other_processes_produced(stream, client, settings):
    # A worker process (here: a child process) produces and reports its counters to
    # the database; this process, which produced nothing, reads them there.
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
            f"{database['PORT']}/{database['NAME']}"
        ),
        "KAFKA_BOOTSTRAP_SERVERS": stream.KAFKA_BOOTSTRAP_SERVERS,
        "KAFKA_METRICS_TOPIC": stream.KAFKA_METRICS_TOPIC,
        "KAFKA_REPORT_INTERVAL_SECONDS": "30",
    }
    if database["ENGINE"].endswith("sqlite3"):
        pytest.skip("a second process needs the shared PostgreSQL test database")
    result = subprocess.run(
        [sys.executable, "-c", PRODUCE_IN_ANOTHER_PROCESS],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert StreamProducer.objects.count() == 1

    kafka = client.get("/healthz").json()["kafka"]
    metrics = client.get("/metrics").content.decode()

    assert kafka["delivered"] == 4
    assert kafka["dropped"] == 0
    assert "opsmarket_kafka_messages_delivered_total 4.0" in metrics
    assert 'opsmarket_kafka_messages_dropped_total{reason="message_timeout"} 0.0' in metrics
    messages = read_topic(stream.KAFKA_BOOTSTRAP_SERVERS, stream.KAFKA_METRICS_TOPIC, expect=4)
    assert {key for key, _ in messages} == {"team-b/db"}
    assert json.loads(json.dumps(messages[0][1]))["instance"]["app"] == "pg-exporter"


@pytest.mark.django_db
def test_healthz_reports_an_unreachable_kafka_and_stays_up(settings, client):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"  # nothing listens on port 1
    settings.KAFKA_REPORT_INTERVAL_SECONDS = 0
    try:
        response = client.get("/healthz")
    finally:
        stream_close(flush_seconds=0)

    assert response.status_code == 200
    body = response.json()
    assert body["kafka"]["configured"] is True
    assert body["kafka"]["connected"] is False
    assert body["kafka"]["ok"] is False
    assert body["ok"] is False


@pytest.mark.django_db
def test_healthz_without_kafka_says_so_and_is_fine(settings, client):
    settings.KAFKA_BOOTSTRAP_SERVERS = ""

    assert client.get("/healthz").json()["kafka"] == {"ok": True, "configured": False}


@pytest.mark.django_db
def test_scraping_goes_on_while_kafka_is_away_and_the_stream_catches_up_after(
    private_stream, private_broker, team, client
):
    # Scrape rounds as the beat runs them, against a real exporter; the broker is
    # killed after the first round and started again after the third.
    private_stream.ELASTICSEARCH_URL = ""
    instance = deployed(kube_namespace(team, cluster_row(), "pay-prod"))
    with exporter(requests_registry(served=5)) as port:
        target = scrape_target(instance, address=f"127.0.0.1:{port}")
        first = metrics_scrape_round()
        assert stream_flush(timeout=60) == 0
        per_round = first.samples

        private_broker.stop()
        outage = [metrics_scrape_round() for _ in range(2)]
        assert [(r.up, r.down, r.stored) for r in outage] == [(1, 0, per_round)] * 2
        # What waits for Kafka is shown, nothing is lost yet.
        kafka = client.get("/healthz").json()["kafka"]
        assert (kafka["connected"], kafka["backlog"], kafka["dropped"]) == (
            False,
            2 * per_round,
            0,
        )
        text = client.get("/metrics").content.decode()
        assert f"opsmarket_kafka_backlog_messages {2 * per_round}.0" in text

        private_broker.start()
        assert stream_flush(timeout=120) == 0
        last = metrics_scrape_round()
        assert stream_flush(timeout=60) == 0

    target.refresh_from_db()
    assert (target.health, target.last_error) == ("up", "")
    # No round missed: every one stored its samples, one point per round and series
    # (read as stored: the chart API merges points closer than its step).
    stored = MetricPoint.objects.filter(series__instance=instance, series__name="requests_total")
    assert Counter(stored.values_list("series__labels__code", flat=True)) == {"200": 4, "500": 4}
    assert stored.values("at").distinct().count() == 4
    # The stream caught up: the consumer reads every round's samples, once each.
    produced = per_round * 4
    assert last.samples == per_round
    messages = read_topic(
        private_broker.servers, private_stream.KAFKA_METRICS_TOPIC, expect=produced
    )
    assert len(messages) == produced
    stamps = Counter(m["@timestamp"] for _, m in messages if m["name"] == "requests_total")
    assert sorted(stamps.values()) == [2, 2, 2, 2]  # codes 200 and 500, in four rounds
    kafka = client.get("/healthz").json()["kafka"]
    assert (kafka["connected"], kafka["backlog"], kafka["delivered"], kafka["dropped"]) == (
        True,
        0,
        produced,
        0,
    )
    text = client.get("/metrics").content.decode()
    assert f"opsmarket_kafka_messages_delivered_total {produced}.0" in text
    assert "opsmarket_kafka_backlog_messages 0.0" in text
