"""Both metric stores behind one interface: the same answers from the database and
from Elasticsearch, retention on both, downsampling of old points in the database."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from telemetry.models import MetricPoint, MetricSeries
from telemetry.samples import InstanceRef, Sample
from telemetry.storage import MetricsStore, metrics_store
from telemetry.storage.base import MAX_POINTS
from telemetry.storage.database import DatabaseMetricsStore
from telemetry.storage.elastic import ElasticMetricsStore, index_for, metrics_refresh
from tests.telemetry.conftest import cluster_row, deployed, kube_namespace

pytestmark = [pytest.mark.django_db]

NOW = float(int(time.time()))


@pytest.fixture(params=["database", pytest.param("elasticsearch", marks=pytest.mark.services)])
def store(request: Any, settings: Any) -> MetricsStore:
    if request.param == "database":
        settings.ELASTICSEARCH_URL = ""
    elif not settings.ELASTICSEARCH_URL:
        pytest.skip("no Elasticsearch")
    else:
        # An index prefix of this test's own: other tests write the same names.
        settings.SEARCH_INDEX_PREFIX = f"{settings.SEARCH_INDEX_PREFIX}-{uuid.uuid4().hex[:6]}"
    found = metrics_store()
    assert isinstance(found, DatabaseMetricsStore | ElasticMetricsStore)
    return found


@pytest.fixture
def instance(team: Any) -> Any:
    return deployed(kube_namespace(team, cluster_row(), "pay-prod"))


def ref(instance: Any) -> InstanceRef:
    return InstanceRef("pay-prod", instance.name, instance.app_name, instance.version)


def sample(name: str, value: float, at: float, type_: str = "gauge", **labels: str) -> Sample:
    return Sample(name=name, value=value, timestamp=at, type=type_, labels={"pod": "p", **labels})


def read(store: MetricsStore, instance: Any, name: str, since: float, until: float = NOW) -> Any:
    if isinstance(store, ElasticMetricsStore):
        metrics_refresh()
    found = store.series_read(
        instance_id=instance.pk, instance=ref(instance), name=name, since=since, until=until
    )
    return sorted(found, key=lambda s: sorted(s.labels.items()))


def test_both_backends_answer_the_same_series(store, instance):
    samples = [sample("temp", 20.0 + i, NOW - 300 + i * 30, room="a") for i in range(10)] + [
        sample("hits_total", 100.0 * i, NOW - 300 + i * 30, "counter", code="200")
        for i in range(10)
    ]
    samples.append(sample("temp", float("nan"), NOW - 1, room="b"))  # never stored
    assert (
        store.samples_store(instance_id=instance.pk, instance=ref(instance), samples=samples) == 20
    )

    (temp,) = read(store, instance, "temp", NOW - 600)
    assert temp.labels == {"__name__": "temp", "pod": "p", "room": "a"}
    assert temp.points == [(NOW - 300 + i * 30, 20.0 + i) for i in range(10)]
    # A family name stands for its samples: "hits" finds hits_total.
    (hits,) = read(store, instance, "hits", NOW - 600)
    assert hits.labels["__name__"] == "hits_total" and hits.points[-1] == (NOW - 30, 900.0)
    # Only the window asked for.
    (recent,) = read(store, instance, "temp", NOW - 100)
    assert [value for _, value in recent.points] == [27.0, 28.0, 29.0]
    assert read(store, instance, "absent", NOW - 600) == []


def test_a_long_window_answers_one_point_per_step(store, instance):
    day = 24 * 3600
    samples = [
        sample("hits_total", float(i), NOW - day + i * 30, "counter") for i in range(day // 30)
    ] + [sample("temp", float(i % 2), NOW - day + i * 30) for i in range(day // 30)]
    store.samples_store(instance_id=instance.pk, instance=ref(instance), samples=samples)

    # A day in MAX_POINTS steps of 360 s: twelve samples each.
    (hits,) = read(store, instance, "hits_total", NOW - day)
    (temp,) = read(store, instance, "temp", NOW - day)
    assert MAX_POINTS - 2 <= len(hits.points) <= MAX_POINTS + 1
    # A counter's step keeps its largest (last) value; a gauge's the mean.
    assert hits.points[-1][1] == float(day // 30 - 1)
    assert {value for _, value in temp.points[1:-1]} == {0.5}


def test_another_instance_of_the_same_name_elsewhere_sees_nothing(store, instance, team):
    store.samples_store(
        instance_id=instance.pk, instance=ref(instance), samples=[sample("temp", 1.0, NOW - 5)]
    )
    other = deployed(kube_namespace(team, cluster_row("other-lab"), "pay-dev"))
    found = store.series_read(
        instance_id=other.pk,
        instance=InstanceRef("pay-dev", "web", "webapp", "1.2.0"),
        name="temp",
        since=NOW - 60,
        until=NOW,
    )
    assert found == []


@pytest.mark.smoke
def test_the_database_drops_old_points_and_thins_those_past_the_downsampling_age(
    instance, settings
):
    settings.ELASTICSEARCH_URL = ""
    settings.METRICS_RETENTION_HOURS = 24
    settings.METRICS_DOWNSAMPLE_AFTER_HOURS = 2
    settings.METRICS_DOWNSAMPLE_SECONDS = 300
    store = DatabaseMetricsStore()
    now = 1_800_000_000.0  # a multiple of 300
    samples = [sample("temp", float(i), now - 30 * 3600 + i * 30) for i in range(30 * 120)]
    store.samples_store(instance_id=instance.pk, instance=ref(instance), samples=samples)
    store.samples_store(
        instance_id=instance.pk,
        instance=ref(instance),
        samples=[sample("gone", 1.0, now - 25 * 3600)],
    )

    store.prune(now=now)

    ats = sorted(MetricPoint.objects.values_list("at", flat=True))
    assert ats[0] >= (now - 24 * 3600) * 1000  # retention
    recent = [at for at in ats if at >= (now - 2 * 3600) * 1000]
    old = [at for at in ats if at < (now - 2 * 3600) * 1000]
    assert len(recent) == 2 * 120  # full resolution: every 30 s
    assert len(old) == 22 * 12  # one per 5 minutes
    assert all(at % 300_000 == 270_000 for at in old)  # the last of each bucket
    assert not MetricSeries.objects.filter(name="gone").exists()
    # A second pass changes nothing.
    store.prune(now=now)
    assert MetricPoint.objects.count() == len(ats)


@pytest.mark.services
def test_elasticsearch_keeps_a_daily_index_until_its_whole_day_is_past_retention(
    instance, settings
):
    if not settings.ELASTICSEARCH_URL:
        pytest.skip("no Elasticsearch")
    settings.SEARCH_INDEX_PREFIX = f"{settings.SEARCH_INDEX_PREFIX}-{uuid.uuid4().hex[:6]}"
    settings.METRICS_RETENTION_HOURS = 48
    store = ElasticMetricsStore()
    day = 24 * 3600
    midnight = NOW - NOW % day
    samples = [
        sample("temp", 1.0, midnight - 4 * day + 60),  # goes
        sample("temp", 2.0, midnight - 3 * day + 60),  # its day ended 48 h ago or more: goes
        sample("temp", 3.0, midnight - 2 * day + 60),  # its day ended less than 48 h ago
        sample("temp", 4.0, NOW - 10),
    ]
    store.samples_store(instance_id=instance.pk, instance=ref(instance), samples=samples)

    assert store.prune(now=NOW) == 2

    from search.client import es_client

    names = set(es_client().indices.get(index=f"{settings.SEARCH_INDEX_PREFIX}-metrics-*"))
    assert names == {index_for(midnight - 2 * day + 60), index_for(NOW - 10)}
    # The index kept still holds a sample older than 48 h (unless it is just past
    # midnight); reads never answer past the retention.
    (temp,) = read(store, instance, "temp", NOW - 10 * day)
    assert temp.points[-1] == (NOW - 10, 4.0)
    assert all(at >= NOW - 48 * 3600 - 1 for at, _ in temp.points)
