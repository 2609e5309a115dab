"""Benchmark: search indexing throughput and query latency, each against raw Elasticsearch.

    .venv/bin/python bench/search.py [--docs 50000] [--queries 1000]

Needs ELASTICSEARCH_URL. Sets Django up on its own (a temporary PORTAL_DATA_DIR; SQLite
there, or a fresh database beside DATABASE_URL's when that is set, dropped afterwards)
and an index prefix of its own, deleted afterwards. Figures are printed beside a
baseline run in this same process, as ratios (see bench/README.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder comes first on sys.path, where this file would
# shadow the portal's `search` package: the checkout's root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.environment import django_environment  # noqa: E402

WORDS = [
    "prometheus", "grafana", "redis", "postgres", "kafka", "nginx", "loki", "tempo",
    "exporter", "dashboard", "backup", "collector", "router", "alert", "probe", "runbook",
    "certificate", "ingress", "metrics", "logs", "traces", "failover", "snapshot", "chaos",
]  # fmt: skip
CATEGORIES = ["monitoring", "logging", "databases", "networking", "security", "runbooks"]
TYPOS = ["promethues", "grafna", "rdis", "postgers", "exproter", "dashbaord"]


@contextmanager
def search_environment(workdir: Path) -> Iterator[str]:
    """The bench's Django environment with an index prefix of its own, whose indexes
    are deleted afterwards (before the database goes)."""
    os.environ["SEARCH_INDEX_PREFIX"] = f"bench-search-{uuid.uuid4().hex[:8]}"
    # No broker: indexing is called directly, nothing is queued behind our back.
    with django_environment(workdir, unset=("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")) as described:
        # One line per request at INFO: the figures would drown.
        logging.getLogger("elastic_transport").setLevel(logging.WARNING)
        try:
            yield described
        finally:
            from django.conf import settings
            from elasticsearch import Elasticsearch

            client = Elasticsearch(str(settings.ELASTICSEARCH_URL), request_timeout=60)
            client.options(ignore_status=404).indices.delete(
                index=f"{settings.SEARCH_INDEX_PREFIX}-*", expand_wildcards="all"
            )


def make_catalogue(count: int) -> list[int]:
    """`count` apps in one market, each with its latest version's manifest."""
    from django.utils import timezone

    from market.models import App, AppVersion, Market

    rng = random.Random(7)
    market = Market.objects.create(name="bench", location="/srv/bench")
    now = timezone.now()
    apps = []
    for n in range(count):
        a, b = rng.sample(WORDS, 2)
        apps.append(
            App(
                market=market,
                name=f"{a}-{b}-{n}",
                title=f"{a.title()} {b.title()} {n}",
                summary=f"{a} {b} for clusters: {rng.choice(WORDS)} and {rng.choice(WORDS)}.",
                category=rng.choice(CATEGORIES),
                keywords=[a, b],
                latest="1.0.0",
                updated=now,
                readme=" ".join(rng.choices(WORDS, k=120)),
            )
        )
    App.objects.bulk_create(apps, batch_size=2000)
    ids = list(App.objects.order_by("pk").values_list("pk", flat=True))
    AppVersion.objects.bulk_create(
        (
            AppVersion(
                app_id=pk,
                version="1.0.0",
                archive=f"app-{pk}.tgz",
                digest="sha256:" + "0" * 64,
                size=1000,
                manifest={"description": "Collects and exports.", "maintainers": [{"name": "SRE"}]},
            )
            for pk in ids
        ),
        batch_size=2000,
    )
    return ids


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<48} {value:<24} {note}")


def run(args: argparse.Namespace, database: str) -> None:
    from elasticsearch import helpers

    from portal.models import Membership, Role, Team
    from search.backends.base import SearchQuery
    from search.backends.elastic import search_body
    from search.client import (
        WRITE_TIMEOUT,
        alias_name,
        all_aliases,
        es_client,
        index_create,
        indices_ensure,
        new_index_name,
    )
    from search.selectors.sources import apps_build
    from search.services.indexing import CHUNK, index_apply
    from search.services.query import search_run

    print(f"search: {args.docs} apps, {args.queries} queries, {database}")
    started = time.perf_counter()
    ids = make_catalogue(args.docs)
    print(f"  (catalogue written in {time.perf_counter() - started:.1f}s)")
    client = es_client(timeout=WRITE_TIMEOUT)
    indices_ensure(client)  # empty indexes: no app existed when they were created

    # Baseline: the same documents, built beforehand, sent by helpers.bulk alone into
    # an index with the same mapping. The two paths take turns, a slice each, so
    # that load from elsewhere on the host (and the server warming up) hits both.
    docs: list[tuple[str, dict[str, Any]]] = []
    for start in range(0, len(ids), CHUNK):
        docs.extend(apps_build(ids[start : start + CHUNK]).docs.get("app", []))
    raw_index = new_index_name("app") + "-raw"
    index_create(client, "app", raw_index)
    raw_seconds = portal_seconds = 0.0
    step = max(CHUNK, len(ids) // args.rounds)
    for start in range(0, len(ids), step):
        started = time.perf_counter()
        helpers.bulk(
            client,
            (
                {"_index": raw_index, "_id": doc_id, "_source": source}
                for doc_id, source in docs[start : start + step]
            ),
            chunk_size=CHUNK,
        )
        raw_seconds += time.perf_counter() - started

        # The portal's path: read the rows, build the documents, write, look for stale ones.
        started = time.perf_counter()
        report = index_apply(kind="app", keys=ids[start : start + step])
        portal_seconds += time.perf_counter() - started
        assert not report.failed, report
    client.indices.delete(index=raw_index)
    client.indices.refresh(index=alias_name("app"))
    assert client.count(index=alias_name("app"))["count"] == len(ids)

    raw_rate, portal_rate = len(docs) / raw_seconds, len(ids) / portal_seconds
    print("indexing (documents per second; ratio = portal / raw, target >= 0.8)")
    line("raw elasticsearch.helpers.bulk", f"{raw_rate:,.0f} docs/s", f"{raw_seconds:.1f}s")
    line(
        "portal index_apply (DB read + build + bulk)",
        f"{portal_rate:,.0f} docs/s",
        f"{portal_seconds:.1f}s  ratio {portal_rate / raw_rate:.2f}",
    )

    # Queries: a signed-in member of one team, as pages ask.
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench")
    Membership.objects.create(team=Team.objects.create(name="bench"), user=user, role=Role.VIEWER)
    rng = random.Random(11)
    queries = []
    for n in range(args.queries):
        roll = n % 4
        q = (
            rng.choice(TYPOS)
            if roll == 0
            else " ".join(rng.sample(WORDS, 2))
            if roll == 1
            else rng.choice(WORDS)
        )
        queries.append(SearchQuery(q=q, page=1 + n % 3))
    for query in queries[:20]:  # warm both paths alike
        search_run(user=user, query=query)
    service, raw = [], []
    reader = es_client()
    for query in queries:
        started = time.perf_counter()
        results = search_run(user=user, query=query)
        service.append(time.perf_counter() - started)
        assert not results.degraded
        started = time.perf_counter()
        reader.search(
            index=all_aliases(),
            body=search_body(query, user=user),
            ignore_unavailable=True,
            search_type="dfs_query_then_fetch",
        )
        raw.append(time.perf_counter() - started)
    print("query latency (ms; ratio = service / raw query with the same body)")
    for label, fraction in (("p50", 0.5), ("p95", 0.95)):
        s, r = percentile(service, fraction) * 1000, percentile(raw, fraction) * 1000
        line(
            f"{label} search_run vs raw client.search", f"{s:.1f} vs {r:.1f}", f"ratio {s / r:.2f}"
        )
    hits = statistics.mean(search_run(user=user, query=q).count for q in queries[:50])
    print(f"  mean hits per query: {hits:.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10, help="turns of raw and portal indexing")
    args = parser.parse_args()
    if not os.environ.get("ELASTICSEARCH_URL"):
        print("ELASTICSEARCH_URL is not set: nothing to measure", file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="bench-search-") as tmp,
        search_environment(Path(tmp)) as database,
    ):
        run(args, database)
    return 0


if __name__ == "__main__":
    sys.exit(main())
