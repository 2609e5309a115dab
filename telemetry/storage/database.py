"""Samples in the database (the default, for ``make run`` on SQLite): a MetricSeries
row per series, a MetricPoint row per value.

Bounded two ways by ``prune``: points older than METRICS_RETENTION_HOURS go, and
points older than METRICS_DOWNSAMPLE_AFTER_HOURS are thinned to one per series per
METRICS_DOWNSAMPLE_SECONDS (the last of each bucket is kept and marked ``coarse``).
A week of 30-second scrapes is then about 6 h of full resolution plus 2,000 points
per series, not 20,000."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Min

from telemetry.models import MetricPoint, MetricSeries
from telemetry.samples import InstanceRef, Sample
from telemetry.storage.base import (
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

# SQLite allows 999 bound variables in older builds: lookups go in chunks below that.
_CHUNK = 500


class DatabaseMetricsStore(MetricsStore):
    def batches_store(self, *, batches: Sequence[Batch]) -> int:
        rows: list[MetricPoint] = []
        for batch in batches:
            by_key: dict[str, Sample] = {}
            points: dict[tuple[str, int], float] = {}
            for sample in batch.samples:
                if storable(sample):
                    key = series_key(sample.name, sample.labels)
                    by_key.setdefault(key, sample)
                    # A series given twice at one time (in one scrape): the last counts.
                    points[(key, int(sample.timestamp * 1000))] = sample.value
            if points:
                ids = _series_ids(batch.instance_id, by_key)
                rows.extend(
                    MetricPoint(series_id=ids[key], at=at, value=value)
                    for (key, at), value in points.items()
                )
        MetricPoint.objects.bulk_create(rows, batch_size=5000)
        return len(rows)

    def series_read(
        self, *, instance_id: int, instance: InstanceRef, name: str, since: float, until: float
    ) -> list[Series]:
        since = max(since, time.time() - settings.METRICS_RETENTION_HOURS * 3600)
        rows = list(
            MetricSeries.objects.filter(instance_id=instance_id, name__in=query_names(name))
            .order_by("name", "id")
            .values_list("id", "name", "type", "labels")[:MAX_SERIES]
        )
        points: dict[int, list[tuple[int, float]]] = defaultdict(list)
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), _CHUNK):
            for series_id, at, value in (
                MetricPoint.objects.filter(
                    series_id__in=ids[start : start + _CHUNK],
                    at__gte=int(since * 1000),
                    at__lte=int(until * 1000),
                )
                .order_by("series_id", "at")
                .values_list("series_id", "at", "value")
            ):
                points[series_id].append((at, value))
        step_ms = step_seconds(since, until) * 1000
        answer = []
        for series_id, sample_name, type_, labels in rows:
            if points[series_id]:
                bucketed = _bucket(points[series_id], step_ms, is_monotonic(sample_name, type_))
                answer.append(Series(labels={"__name__": sample_name, **labels}, points=bucketed))
        return answer

    def prune(self, *, now: float) -> int:
        removed = _delete_before(int((now - settings.METRICS_RETENTION_HOURS * 3600) * 1000))
        removed += _downsample(now)
        # Series whose every point is gone: nothing scrapes them any more.
        MetricSeries.objects.filter(points__isnull=True).delete()
        return removed


def _series_ids(instance_id: int, by_key: dict[str, Sample]) -> dict[str, int]:
    """The ids of the series named by ``by_key``'s keys, creating the missing ones.
    (Not cached in the process: a rolled-back or pruned series would leave a cached
    id pointing at no row.)"""
    keys = list(by_key)
    ids: dict[str, int] = {}
    for start in range(0, len(keys), _CHUNK):
        ids.update(
            MetricSeries.objects.filter(
                instance_id=instance_id, key__in=keys[start : start + _CHUNK]
            ).values_list("key", "id")
        )
    new = [key for key in keys if key not in ids]
    if new:
        # ignore_conflicts: a second round racing on the same new series inserts it
        # once; the read below finds the winner's row either way.
        MetricSeries.objects.bulk_create(
            [
                MetricSeries(
                    instance_id=instance_id,
                    key=key,
                    name=by_key[key].name[:200],
                    type=by_key[key].type[:20],
                    labels=by_key[key].labels,
                )
                for key in new
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        for start in range(0, len(new), _CHUNK):
            ids.update(
                MetricSeries.objects.filter(
                    instance_id=instance_id, key__in=new[start : start + _CHUNK]
                ).values_list("key", "id")
            )
    return ids


def _bucket(
    points: list[tuple[int, float]], step_ms: int, monotonic: bool
) -> list[tuple[float, float]]:
    """One point per step: the last sample's time, and its value (monotonic) or the
    step's mean."""
    answer: list[tuple[float, float]] = []
    current = None
    values: list[float] = []
    last_at = 0
    for at, value in points:
        bucket = at // step_ms
        if bucket != current and values:
            answer.append(_point(last_at, values, monotonic))
            values = []
        current, last_at = bucket, at
        values.append(value)
    if values:
        answer.append(_point(last_at, values, monotonic))
    return answer


def _point(at_ms: int, values: list[float], monotonic: bool) -> tuple[float, float]:
    value = max(values) if monotonic else sum(values) / len(values)
    return (at_ms / 1000, value)


def _delete_before(cutoff_ms: int) -> int:
    removed = 0
    while True:
        ids = list(MetricPoint.objects.filter(at__lt=cutoff_ms).values_list("id", flat=True)[:5000])
        if not ids:
            return removed
        removed += MetricPoint.objects.filter(pk__in=ids).delete()[0]


def _downsample(now: float) -> int:
    """Thin full-resolution points older than the downsampling age, an hour of them
    per statement: keep the last point of each (series, bucket), delete the rest."""
    bucket_ms = settings.METRICS_DOWNSAMPLE_SECONDS * 1000
    cutoff = int((now - settings.METRICS_DOWNSAMPLE_AFTER_HOURS * 3600) * 1000)
    cutoff -= cutoff % bucket_ms  # whole buckets only: a bucket is thinned once
    window = max(bucket_ms, 3600 * 1000 - 3600 * 1000 % bucket_ms)
    removed = 0
    oldest = MetricPoint.objects.filter(coarse=False, at__lt=cutoff).aggregate(at=Min("at"))["at"]
    if oldest is None:
        return 0
    start = oldest - oldest % bucket_ms
    while start < cutoff:
        end = min(cutoff, start + window)
        fine = MetricPoint.objects.filter(coarse=False, at__gte=start, at__lt=end)
        keep = (
            fine.annotate(bucket=F("at") / bucket_ms)
            .values("series_id", "bucket")
            .annotate(last=Max("id"))
            .values_list("last", flat=True)
        )
        with transaction.atomic():
            MetricPoint.objects.filter(pk__in=keep).update(coarse=True)
            removed += fine.filter(coarse=False).delete()[0]
        start = end
    return removed
