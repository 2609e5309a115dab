"""Scrape rounds against real exporters on loopback: what is stored with which
labels, and hostile exporters (hanging, dripping, garbage, 100 MB, refusing) that
are marked down with the reason while the others are scraped on time.

No Kubernetes here: the targets are rows as discovery writes them (discovery has
its own tests against the API server), so this runs on the embedded defaults too."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import Any

import pytest

from telemetry.models import ScrapeTarget
from telemetry.samples import InstanceRef, Sample
from telemetry.scrape import body_parse, metrics_scrape_round
from telemetry.selectors import instance_metric_series
from telemetry.storage.database import DatabaseMetricsStore
from tests.telemetry.conftest import cluster_row, deployed, kube_namespace
from tests.telemetry.support import closed_port, exporter, hostile, requests_registry

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


@pytest.fixture(autouse=True)
def _no_stream(settings: Any) -> None:
    # The stream has tests of its own (test_stream.py); a real producer started here
    # would live on in the process and count among theirs.
    settings.KAFKA_BOOTSTRAP_SERVERS = ""


@pytest.fixture
def instance(team: Any, settings: Any) -> Any:
    settings.ELASTICSEARCH_URL = ""  # the database backend: these tests are about scraping
    return deployed(kube_namespace(team, cluster_row(), "pay-prod"))


def target(instance: Any, port: int, pod: str = "web-0", path: str = "/metrics") -> ScrapeTarget:
    return ScrapeTarget.objects.create(
        instance=instance,
        pod=pod,
        address=f"127.0.0.1:{port}",
        url=f"http://127.0.0.1:{port}{path}",
        found_by="pod",
    )


def test_a_round_stores_the_exporters_samples_with_the_instance_labels(instance):
    with exporter(requests_registry(served=41)) as port:
        row = target(instance, port)
        report = metrics_scrape_round()

    assert (report.up, report.down) == (1, 0)
    row.refresh_from_db()
    assert (row.health, row.last_error) == ("up", "")
    assert row.last_scrape is not None and row.series == report.samples > 0
    assert {"requests", "queue_depth"} <= set(row.names)

    series = instance_metric_series(instance=instance, name="requests_total", since_seconds=600)
    by_code = {s.labels["code"]: s for s in series}
    assert by_code["200"].points[-1][1] == 41.0
    assert by_code["200"].labels == {
        "__name__": "requests_total",
        "code": "200",
        "opsmarket_namespace": "pay-prod",
        "opsmarket_instance": "web",
        "opsmarket_app": "webapp",
        "opsmarket_version": "1.2.0",
        "pod": "web-0",
    }
    assert abs(by_code["200"].points[-1][0] - time.time()) < 60


HOSTILE = ("hang", "drip", "slow_headers", "garbage", "binary", "huge", "huge_declared", "error")


def test_hostile_exporters_are_marked_down_with_the_reason_and_do_not_delay_the_others(
    instance, settings
):
    settings.METRICS_SCRAPE_TIMEOUT_SECONDS = 5
    # Fewer threads than targets: a hanging exporter holds one thread, its own.
    settings.METRICS_SCRAPE_CONCURRENCY = 6
    with contextlib.ExitStack() as stack:
        servers = {mode: stack.enter_context(hostile(mode)) for mode in HOSTILE}
        goods = [stack.enter_context(exporter(requests_registry(served=i))) for i in range(4)]
        for mode, server in servers.items():
            target(instance, server.server_address[1], pod=mode)
        for index, port in enumerate(goods):
            target(instance, port, pod=f"good-{index}")
        target(instance, closed_port(), pod="refused")

        report = metrics_scrape_round(store=DatabaseMetricsStore())
        again = metrics_scrape_round(store=DatabaseMetricsStore())  # nothing broke

    rows = {row.pod: row for row in ScrapeTarget.objects.all()}
    for name in ("hang", "drip", "slow_headers"):
        assert (rows[name].health, rows[name].last_error) == (
            "down",
            "no complete answer within 5s",
        ), name
    assert rows["garbage"].health == "down"
    assert rows["garbage"].last_error.startswith("not Prometheus text format: ")
    assert rows["binary"].last_error == "the body is not UTF-8 text"
    for name in ("huge", "huge_declared"):
        assert (rows[name].health, rows[name].last_error) == (
            "down",
            f"body larger than {10 * 1024**2} bytes",
        ), name
        assert servers[name].huge_sent < 100 * 1024**2  # the scraper stopped reading
    assert rows["error"].last_error == "HTTP 503 Service Unavailable"
    assert rows["refused"].last_error == "connection refused"
    for result in (report, again):
        assert (result.targets, result.up, result.down) == (13, 4, 9)
        assert set(result.errors) == {rows[name].address for name in (*HOSTILE, "refused")}

    # On time, by what the round recorded: every good exporter was scraped, to the
    # end, before the first hostile one even reached its deadline, though the
    # hostile ones took most of the threads.
    def scraped_at(row: ScrapeTarget) -> dt.datetime:
        assert row.last_scrape is not None, row.pod
        return row.last_scrape

    first_deadline = min(scraped_at(rows[name]) for name in ("hang", "drip")) + dt.timedelta(
        seconds=5
    )
    for index in range(4):
        good = rows[f"good-{index}"]
        assert (good.health, good.last_error) == ("up", ""), good.pod
        assert good.last_duration is not None
        assert scraped_at(good) + dt.timedelta(seconds=good.last_duration) < first_deadline
    # Their samples are stored; nothing of the down targets is.
    stored = instance_metric_series(instance=instance, name="requests_total", since_seconds=600)
    assert {s.labels["pod"] for s in stored} == {f"good-{index}" for index in range(4)}
    assert instance_metric_series(instance=instance, name="filler_total", since_seconds=600) == []


def test_a_loopback_pod_of_a_cluster_without_the_private_network_flag_is_refused(team, settings):
    settings.ELASTICSEARCH_URL = ""
    cluster = cluster_row("public-only", allow_private_network=False)
    instance = deployed(kube_namespace(team, cluster, "pay-public"))
    with exporter(requests_registry()) as port:
        row = target(instance, port)
        metrics_scrape_round()

    row.refresh_from_db()
    assert row.health == "down"
    assert row.last_error == (
        "refusing to connect to 127.0.0.1: 127.0.0.1 is a loopback address; "
        "a cluster inside your network needs the allow flag"
    )


def test_a_round_hands_the_samples_to_the_stream_and_survives_its_failure(instance):
    handed: list[tuple[InstanceRef, str, int]] = []

    def produce(ref: InstanceRef, address: str, samples: list[Sample]) -> None:
        handed.append((ref, address, len(samples)))
        raise ConnectionError("kafka is down")

    with exporter(requests_registry()) as port:
        row = target(instance, port)
        report = metrics_scrape_round(produce=produce)

    ref = InstanceRef("pay-prod", "web", "webapp", "1.2.0")
    assert handed == [(ref, row.url, report.samples)]
    row.refresh_from_db()
    assert (row.health, row.last_error) == ("up", "")  # stored all the same
    assert instance_metric_series(instance=instance, name="queue_depth", since_seconds=600)


REF = InstanceRef("ns", "web", "webapp", "1.0")


def test_openmetrics_is_parsed_by_content_type_and_exporter_labels_cannot_pose_as_ours():
    body = (
        b"# TYPE jobs counter\n"
        b'jobs_total{pod="evil",opsmarket_instance="other"} 5 1700000000.5\n'
        b"# EOF\n"
    )
    now = 1700000100.0
    samples, names = body_parse(
        body, "application/openmetrics-text; version=1.0.0", instance=REF, pod="p-1", scraped_at=now
    )
    assert names == ["jobs"]
    (sample,) = samples
    assert (sample.name, sample.value, sample.type, sample.timestamp) == (
        "jobs_total",
        5.0,
        "counter",
        1700000000.5,
    )
    assert sample.labels["pod"] == "p-1" and sample.labels["exported_pod"] == "evil"
    assert sample.labels["opsmarket_instance"] == "web"
    assert sample.labels["exported_opsmarket_instance"] == "other"


def test_exporter_timestamps_from_the_future_or_beyond_retention_take_the_scrape_time():
    now = 1700000000.0
    body = b"a 1 99999999999999\nb 2 1000\nc 3 1699999990000\n"
    samples, _ = body_parse(body, "text/plain", instance=REF, pod="p", scraped_at=now)
    assert [(s.name, s.timestamp) for s in samples] == [
        ("a", now),
        ("b", now),
        ("c", 1699999990.0),
    ]
