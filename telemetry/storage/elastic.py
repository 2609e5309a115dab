"""Samples in Elasticsearch: one document per sample in daily indexes
``<SEARCH_INDEX_PREFIX>-metrics-YYYY.MM.DD`` that one index template shapes.

Daily indexes rather than a data stream: retention is then deleting whole indexes,
which needs no index lifecycle management (not every distribution has it), and a
day is few enough shards for a week on one node. Reads filter by time as well, so
an index kept until its whole day is past the retention never shows older samples.

Labels are one ``flattened`` field: every label name an exporter makes up would
otherwise become a mapped field, and a hostile exporter could exhaust the index's
field limit for every instance.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from elasticsearch import Elasticsearch, NotFoundError

from search.client import es_client
from telemetry.samples import InstanceRef
from telemetry.storage.base import (
    MAX_POINTS,
    MAX_SERIES,
    Batch,
    MetricsStore,
    Series,
    is_monotonic,
    query_names,
    series_key,
    step_seconds,
    storable,
)

WRITE_TIMEOUT = 30.0
READ_TIMEOUT = 10.0
_ensured: set[str] = set()
_ensure_lock = threading.Lock()


def metrics_prefix() -> str:
    return f"{settings.SEARCH_INDEX_PREFIX}-metrics"


def index_for(timestamp: float) -> str:
    day = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y.%m.%d")
    return f"{metrics_prefix()}-{day}"


TEMPLATE_MAPPINGS: dict[str, Any] = {
    # Only what is listed is indexed; nothing a sample carries adds a field.
    "dynamic": False,
    "properties": {
        "@timestamp": {"type": "date", "format": "epoch_millis"},
        "name": {"type": "keyword", "ignore_above": 200},
        "value": {"type": "double"},
        "type": {"type": "keyword"},
        "series": {"type": "keyword"},
        "labels": {"type": "flattened", "ignore_above": 1024},
        "instance": {
            "properties": {
                "namespace": {"type": "keyword"},
                "name": {"type": "keyword"},
                "app": {"type": "keyword"},
                "version": {"type": "keyword"},
            }
        },
    },
}


def template_ensure(client: Elasticsearch) -> None:
    """Put the index template once per process and prefix (idempotent)."""
    prefix = metrics_prefix()
    with _ensure_lock:
        if prefix in _ensured:
            return
    client.indices.put_index_template(
        name=prefix,
        index_patterns=[f"{prefix}-*"],
        template={
            "settings": {
                "number_of_shards": 1,
                "auto_expand_replicas": "0-1",
                "refresh_interval": "5s",
            },
            "mappings": TEMPLATE_MAPPINGS,
        },
        priority=200,
    )
    with _ensure_lock:
        _ensured.add(prefix)


class ElasticMetricsStore(MetricsStore):
    def batches_store(self, *, batches: Sequence[Batch]) -> int:
        client = es_client(timeout=WRITE_TIMEOUT)
        template_ensure(client)
        operations: list[dict[str, Any]] = []
        for batch in batches:
            who = {
                "namespace": batch.instance.namespace,
                "name": batch.instance.name,
                "app": batch.instance.app,
                "version": batch.instance.version,
            }
            for sample in batch.samples:
                if not storable(sample):
                    continue
                operations.append({"create": {"_index": index_for(sample.timestamp)}})
                operations.append(
                    {
                        "@timestamp": int(sample.timestamp * 1000),
                        "name": sample.name,
                        "value": sample.value,
                        "type": sample.type,
                        "series": series_key(sample.name, sample.labels),
                        "labels": sample.labels,
                        "instance": who,
                    }
                )
        stored = 0
        # Bulk requests of a few thousand documents keep each one a few megabytes.
        for start in range(0, len(operations), 10_000):
            answer = client.bulk(operations=operations[start : start + 10_000])
            items = answer.get("items", [])
            stored += sum(1 for item in items if 200 <= item["create"]["status"] < 300)
        return stored

    def series_read(
        self, *, instance_id: int, instance: InstanceRef, name: str, since: float, until: float
    ) -> list[Series]:
        since = max(since, time.time() - settings.METRICS_RETENTION_HOURS * 3600)
        step = step_seconds(since, until)
        client = es_client(timeout=READ_TIMEOUT)
        try:
            answer = client.search(
                index=f"{metrics_prefix()}-*",
                size=0,
                query={
                    "bool": {
                        "filter": [
                            {"term": {"instance.namespace": instance.namespace}},
                            {"term": {"instance.name": instance.name}},
                            {"terms": {"name": query_names(name)}},
                            {
                                "range": {
                                    "@timestamp": {
                                        "gte": int(since * 1000),
                                        "lte": int(until * 1000),
                                    }
                                }
                            },
                        ]
                    }
                },
                aggs={
                    "series": {
                        "terms": {"field": "series", "size": MAX_SERIES, "order": {"_key": "asc"}},
                        "aggs": {
                            "first": {
                                "top_hits": {"size": 1, "_source": ["name", "type", "labels"]}
                            },
                            "steps": {
                                "date_histogram": {
                                    "field": "@timestamp",
                                    "fixed_interval": f"{step}s",
                                    "min_doc_count": 1,
                                },
                                # One stats aggregation, not avg and max apart:
                                # each sub-aggregation costs its own pass.
                                "aggs": {
                                    "at": {"max": {"field": "@timestamp"}},
                                    "value": {"stats": {"field": "value"}},
                                },
                            },
                        },
                    }
                },
                ignore_unavailable=True,
                allow_no_indices=True,
                # Only the figures used: a bucket's keys and counts would triple the
                # answer, and decoding it is most of a read's time.
                filter_path=[
                    "aggregations.series.buckets.first.hits.hits._source",
                    "aggregations.series.buckets.steps.buckets.at.value",
                    "aggregations.series.buckets.steps.buckets.value.avg",
                    "aggregations.series.buckets.steps.buckets.value.max",
                ],
            )
        except NotFoundError:
            return []
        answer_series = []
        buckets = answer.body.get("aggregations", {}).get("series", {}).get("buckets", [])
        for bucket in buckets:
            source = bucket["first"]["hits"]["hits"][0]["_source"]
            monotonic = is_monotonic(source["name"], source["type"])
            kind = "max" if monotonic else "avg"
            points = [
                (step["at"]["value"] / 1000, step["value"][kind])
                for step in bucket["steps"]["buckets"][-MAX_POINTS:]
            ]
            labels = {"__name__": source["name"], **source["labels"]}
            answer_series.append(Series(labels=labels, points=points))
        return answer_series

    def prune(self, *, now: float) -> int:
        """Delete the daily indexes whose whole day is past the retention."""
        client = es_client(timeout=WRITE_TIMEOUT)
        cutoff = now - settings.METRICS_RETENTION_HOURS * 3600
        prefix = metrics_prefix()
        try:
            names = list(client.indices.get(index=f"{prefix}-*", expand_wildcards="open"))
        except NotFoundError:
            return 0
        removed = 0
        for name in names:
            try:
                day = dt.datetime.strptime(name.removeprefix(f"{prefix}-"), "%Y.%m.%d")
            except ValueError:
                continue  # not one of ours
            day_end = day.replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
            if day_end.timestamp() <= cutoff:
                client.indices.delete(index=name, ignore_unavailable=True)
                removed += 1
        return removed


def metrics_refresh() -> None:
    """Make every stored sample searchable now (tests and benchmarks)."""
    es_client(timeout=WRITE_TIMEOUT).indices.refresh(
        index=f"{metrics_prefix()}-*", allow_no_indices=True
    )
