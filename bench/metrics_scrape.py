"""Benchmark: scrape rounds of many exporters, and the metrics chart API.

    .venv/bin/python bench/metrics_scrape.py [--targets 200] [--series 500] [--rounds 3]
                                             [--backend database|elasticsearch|all]

1. Starts TARGETS real prometheus_client exporters (SERIES samples each: a gauge by
   shard and a counter by route) on loopback ports, in a child process of their own
   so that serving them does not share the scraping process's GIL.
2. Registers them as ScrapeTarget rows of 20 instances in a kubernetes namespace of a
   cluster with allow_private_network (discovery is not measured: it is one list call
   per instance).
3. Runs ROUNDS scrape rounds (telemetry.scrape.metrics_scrape_round: fetch, parse,
   label, store, record health) and prints samples stored per second, beside the
   baseline: prometheus_client's parser alone on the same bodies, in this process
   (ratio = round / parser alone; the rest of the round is fetching, labelling and
   storing).
4. Stores an hour of 30-second history of one exporter for an instance of its own
   (SERIES / 2 gauge series, 120 points each) and times the chart API
   (``GET .../metrics/?name=...&since=3600`` through the test client: routing,
   authentication, permission check, serialisation) against the raw storage query
   it makes (``series_read``); p95 of each and their ratio.

Sets Django up on its own (bench/environment.py): a fresh PostgreSQL database beside
DATABASE_URL's (SQLite without it), Redis off; Elasticsearch backend runs under an
index prefix of its own, deleted at the end.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.environment import django_environment  # noqa: E402

INSTANCES = 20


def serve_exporters(targets: int, series: int, ports: Any, stop: Any) -> None:
    """Child process: TARGETS exporters, their ports sent back through ``ports``."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

    servers = []
    for index in range(targets):
        registry = CollectorRegistry()
        gauge = Gauge("bench_queue_depth", "Items waiting.", ["shard"], registry=registry)
        counter = Counter("bench_requests", "Requests served.", ["route"], registry=registry)
        for shard in range(series // 2):
            gauge.labels(shard=f"s{shard}").set(shard * 1.5 + index)
        for route in range(series // 4):  # two samples each: _total and _created
            counter.labels(route=f"/api/r{route}").inc(route + index)
        server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
        servers.append(server)
        ports.put(int(server.server_port))
    stop.wait()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def line(label: str, *figures: str) -> None:
    print(f"  {label:<44}" + "  ".join(figures))


def run(args: argparse.Namespace, backend: str, ports: list[int], database: str) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from prometheus_client.parser import text_string_to_metric_families
    from rest_framework.test import APIClient

    from deployments.models import Cluster, DeployTarget, Instance, Namespace
    from market.models import Market
    from portal.actors import Actor
    from portal.crypto import encrypt_json
    from portal.models import Membership, Role, Team
    from portal.services.tokens import token_create
    from telemetry.models import MetricPoint, MetricSeries, ScrapeTarget
    from telemetry.samples import InstanceRef
    from telemetry.scrape import body_parse, metrics_scrape_round
    from telemetry.storage import metrics_store

    settings.ELASTICSEARCH_URL = (
        os.environ.get("ELASTICSEARCH_URL", "") if backend != "database" else ""
    )
    ScrapeTarget.objects.all().delete()
    MetricPoint.objects.all().delete()
    MetricSeries.objects.all().delete()
    Instance.objects.all().delete()
    store = metrics_store()
    print(
        f"\nmetrics scrape on the {backend} backend: {len(ports)} exporters x {args.series} "
        f"samples, {args.rounds} rounds, {settings.METRICS_SCRAPE_CONCURRENCY} at a time, "
        f"{database}"
    )
    team, _ = Team.objects.get_or_create(name="bench")
    cluster, _ = Cluster.objects.get_or_create(
        name="bench",
        defaults={
            "server": "https://127.0.0.1:1",
            "insecure_skip_tls_verify": True,
            "token_encrypted": encrypt_json("unused"),
            "allow_private_network": True,
        },
    )
    namespace, _ = Namespace.objects.get_or_create(
        name="bench", defaults={"team": team, "target": DeployTarget.KUBERNETES, "cluster": cluster}
    )
    market, _ = Market.objects.get_or_create(name="bench")
    instances = [
        Instance.objects.create(
            namespace=namespace,
            name=f"app-{i}",
            market=market,
            app_name="bench",
            version="1.0.0",
            status="deployed",
        )
        for i in range(INSTANCES)
    ]
    for index, port in enumerate(ports):
        ScrapeTarget.objects.create(
            instance=instances[index % INSTANCES],
            pod=f"pod-{index}",
            address=f"127.0.0.1:{port}",
            url=f"http://127.0.0.1:{port}/metrics",
            found_by="pod",
        )

    # The baseline: the same bodies, parsed by prometheus_client alone.
    bodies = [
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
        for port in ports
    ]
    parse_seconds = []
    parsed = 0
    for _ in range(args.rounds):
        started = time.perf_counter()
        parsed = sum(
            len(family.samples)
            for body in bodies
            for family in text_string_to_metric_families(body)
        )
        parse_seconds.append(time.perf_counter() - started)
    parse_rate = parsed / min(parse_seconds)

    round_seconds = []
    stored = 0
    for _ in range(args.rounds):
        started = time.perf_counter()
        report = metrics_scrape_round()
        round_seconds.append(time.perf_counter() - started)
        assert report.down == 0, report.errors
        stored = report.stored
    round_rate = stored / min(round_seconds)
    print("samples per second (best of the rounds; ratio = against the parser alone)")
    line(
        "prometheus_client parser alone",
        f"{parse_rate:>10,.0f}/s",
        f"{parsed:,} samples in {min(parse_seconds):.2f}s",
    )
    line(
        "scrape round (fetch, parse, label, store)",
        f"{round_rate:>10,.0f}/s",
        f"{stored:,} samples in {min(round_seconds):.2f}s",
        f"(median {statistics.median(round_seconds):.2f}s)",
        f"ratio {round_rate / parse_rate:.2f}",
    )

    # An hour of history for an instance of its own (one exporter: 250 gauge series),
    # then the chart API against its storage query.
    instance = Instance.objects.create(
        namespace=namespace,
        name="chart",
        market=market,
        app_name="bench",
        version="1.0.0",
        status="deployed",
    )
    ref = InstanceRef(namespace.name, instance.name, instance.app_name, instance.version)
    now = time.time()
    history = 0
    for step in range(120, 0, -1):
        samples, _names = body_parse(
            bodies[0].encode(), "text/plain", instance=ref, pod="pod-0", scraped_at=now - step * 30
        )
        history += store.samples_store(instance_id=instance.pk, instance=ref, samples=samples)
    if backend == "elasticsearch":
        from telemetry.storage.elastic import metrics_refresh

        metrics_refresh()
    user, _ = get_user_model().objects.get_or_create(username="bench")
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": Role.VIEWER})
    secret = token_create(actor=Actor.system(), user=user, name=f"bench-{backend}", days=1).secret
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    url = (
        f"/api/v1/namespaces/bench/instances/{instance.name}/metrics/"
        "?name=bench_queue_depth&since=3600"
    )
    api_seconds: list[float] = []
    raw_seconds: list[float] = []
    series_count = points = 0
    client.get(url)  # the first request imports and builds what every later one reuses
    for _ in range(args.queries):  # in turns, so load from elsewhere hits both alike
        started = time.perf_counter()
        answer = client.get(url)
        api_seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.content[:300]
        started = time.perf_counter()
        found = store.series_read(
            instance_id=instance.pk,
            instance=ref,
            name="bench_queue_depth",
            since=time.time() - 3600,
            until=time.time(),
        )
        raw_seconds.append(time.perf_counter() - started)
        series_count, points = len(found), sum(len(s.points) for s in found)
    print(
        f"chart API, {series_count} series x {points // max(series_count, 1)} points "
        f"(an hour of {history:,} stored samples); {args.queries} requests, ratio = against "
        "the storage query"
    )
    raw95 = percentile(raw_seconds, 0.95) * 1000
    api95 = percentile(api_seconds, 0.95) * 1000
    line(
        "storage query (series_read)",
        f"p95 {raw95:8.1f} ms",
        f"median {statistics.median(raw_seconds) * 1000:.1f} ms",
    )
    line(
        "GET .../metrics/?name=&since=3600",
        f"p95 {api95:8.1f} ms",
        f"median {statistics.median(api_seconds) * 1000:.1f} ms",
        f"ratio {api95 / raw95:.2f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--backend", choices=["database", "elasticsearch", "all"], default="all")
    args = parser.parse_args()
    backends = ["database", "elasticsearch"] if args.backend == "all" else [args.backend]
    if "elasticsearch" in backends and not os.environ.get("ELASTICSEARCH_URL"):
        print("no ELASTICSEARCH_URL: the elasticsearch backend is skipped")
        backends.remove("elasticsearch")
    os.environ["SEARCH_INDEX_PREFIX"] = f"bench-{uuid.uuid4().hex[:8]}"

    context = multiprocessing.get_context("spawn")
    ports_queue = context.Queue()
    stop = context.Event()
    child = context.Process(
        target=serve_exporters, args=(args.targets, args.series, ports_queue, stop), daemon=True
    )
    child.start()
    ports = [ports_queue.get(timeout=120) for _ in range(args.targets)]
    try:
        with (
            tempfile.TemporaryDirectory(prefix="metrics-bench-") as workdir,
            django_environment(Path(workdir), unset=["REDIS_URL"]) as database,
        ):
            # One line per request otherwise.
            logging.getLogger("elastic_transport").setLevel(logging.WARNING)
            logging.getLogger("telemetry").setLevel(logging.WARNING)
            try:
                for backend in backends:
                    run(args, backend, ports, database)
            finally:
                from telemetry.stream import stream_close

                # The stream's last report of its counters goes to this database:
                # close it before the database is dropped, not at interpreter exit.
                stream_close()
    finally:
        stop.set()
        child.join(10)
        if child.is_alive():
            child.terminate()
        if os.environ.get("ELASTICSEARCH_URL"):
            from elasticsearch import Elasticsearch

            with Elasticsearch(os.environ["ELASTICSEARCH_URL"], request_timeout=30) as es:
                es.options(ignore_status=404).indices.delete(
                    index=f"{os.environ['SEARCH_INDEX_PREFIX']}-*", expand_wildcards="all"
                )
                es.options(ignore_status=404).indices.delete_index_template(
                    name=f"{os.environ['SEARCH_INDEX_PREFIX']}-metrics"
                )


if __name__ == "__main__":
    main()
