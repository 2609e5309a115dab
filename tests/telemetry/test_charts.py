"""The instance page's Metrics tab: its targets' health and chart controls, its
empty states, its permissions, and the chart data the page's script reads from the
metrics API with the signed-in session, on both metric stores."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.test import Client

from telemetry.samples import InstanceRef, Sample
from telemetry.selectors import chart_windows, instance_metric_series
from telemetry.storage import metrics_store
from telemetry.storage.base import step_seconds
from telemetry.storage.elastic import metrics_refresh
from tests.factories import make_namespace, make_team, make_user
from tests.telemetry.conftest import cluster_row, deployed, kube_namespace, scrape_target

pytestmark = [pytest.mark.django_db]

TAB = "/instances/pay-prod/web/metrics/"
API = "/api/v1/namespaces/pay-prod/instances/web/metrics/"


@pytest.fixture(params=["database", pytest.param("elasticsearch", marks=pytest.mark.services)])
def backend(request: Any, settings: Any) -> str:
    if request.param == "database":
        settings.ELASTICSEARCH_URL = ""
    elif not settings.ELASTICSEARCH_URL:
        pytest.skip("no Elasticsearch")
    else:
        # An index prefix of this test's own: other tests write the same names.
        settings.SEARCH_INDEX_PREFIX = f"{settings.SEARCH_INDEX_PREFIX}-{uuid.uuid4().hex[:6]}"
    return str(request.param)


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def web(team: Any) -> Any:
    return deployed(kube_namespace(team, cluster_row(), "pay-prod"))


def store_requests(instance: Any, backend: str) -> float:
    """Two pods' request counters, scraped 7 seconds apart, every 30 s for the last
    10 min; returns the time they end at."""
    now = float(int(time.time()))
    samples = [
        Sample("requests_total", 5.0 * i, now - 600 + 30 * i + offset, "counter", {"pod": pod})
        for i in range(20)
        for pod, offset in (("web-0", 0), ("web-1", 7))
    ]
    metrics_store().samples_store(
        instance_id=instance.pk,
        instance=InstanceRef("pay-prod", "web", "webapp", "1.2.0"),
        samples=samples,
    )
    if backend == "elasticsearch":
        metrics_refresh()
    return now


def test_the_tab_shows_the_targets_health_and_the_metric_controls(web, viewer, settings):
    settings.ELASTICSEARCH_URL = ""
    scrape_target(web, "web-0", "10.1.2.3:9100", health="up", names=["requests", "queue_depth"])
    scrape_target(
        web, "web-1", "10.1.2.4:9100", health="down", last_error="no complete answer within 10s"
    )

    answer = browser(viewer).get(TAB)

    assert answer.status_code == 200
    html = answer.content.decode()
    assert f'data-series-url="{API}"' in html
    assert '<option value="queue_depth">queue_depth</option>' in html
    assert '<option value="requests">requests</option>' in html
    # The windows, with the storage's step for each; one hour chosen.
    assert '<option value="900" data-step="4">last 15 min</option>' in html
    assert '<option value="3600" data-step="15" selected>last 1 h</option>' in html
    assert "10.1.2.3:9100" in html and "10.1.2.4:9100" in html
    assert 'data-state="up"' in html and 'data-state="down"' in html
    assert "no complete answer within 10s" in html
    assert "data-metrics-empty" not in html


def test_targets_that_never_answered_say_there_is_nothing_to_draw(web, viewer, settings):
    settings.ELASTICSEARCH_URL = ""
    scrape_target(web, "web-0", "10.1.2.3:9100", health="down", last_error="connection refused")

    html = browser(viewer).get(TAB).content.decode()

    assert 'data-metrics-empty="no-samples"' in html
    assert "no scrape of this instance's exporter has succeeded" in html
    assert "connection refused" in html  # the table says why
    assert "data-metrics-form" not in html


def test_an_instance_without_targets_says_how_they_are_found(web, viewer):
    html = browser(viewer).get(TAB).content.decode()

    assert 'data-metrics-empty="no-targets"' in html
    assert "sreworks-prometheus-scrape-metric=enable" in html


def test_a_gitops_instance_says_metrics_need_a_kubernetes_target(team, viewer):
    deployed(make_namespace(team, "pay-prod"))

    html = browser(viewer).get(TAB).content.decode()

    assert 'data-metrics-empty="gitops"' in html
    assert "Kubernetes target only" in html


def test_the_instance_page_has_a_metrics_tab_loaded_when_shown(web, viewer):
    html = browser(viewer).get("/instances/pay-prod/web/?tab=metrics").content.decode()

    assert 'id="instance-metrics-tab"' in html
    assert f'hx-get="{TAB}" hx-trigger="intersect once"' in html
    assert "vendor/uplot/uPlot.iife.min.js" in html and "js/metrics-chart.js" in html


def test_another_teams_instance_is_not_found_on_the_tab_nor_in_the_chart_data(web, settings):
    settings.ELASTICSEARCH_URL = ""
    scrape_target(web, "web-0", "10.1.2.3:9100", health="up", names=["requests"])
    outsider = make_user("oscar")
    make_team("search", members={outsider: "admin"})
    client = browser(outsider)

    for url in (TAB, API, f"{API}?name=requests&since=900"):
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert "10.1.2.3" not in answer.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(web):
    answer = Client().get(TAB)

    assert answer.status_code == 302
    assert answer["Location"].startswith("/accounts/login/?next=")
    assert Client().get(f"{API}?name=requests").status_code in (401, 403)


def test_writing_methods_are_refused(web, viewer):
    assert browser(viewer).post(TAB).status_code == 405


def test_chart_data_answers_the_same_shape_on_both_stores(web, viewer, backend):
    scrape_target(web, "web-0", "10.1.2.3:9100", health="up", names=["requests"])
    now = store_requests(web, backend)
    client = browser(viewer)  # the page's script: the session, no token

    answer = client.get(f"{API}?name=requests&since=900", HTTP_ACCEPT="application/json")

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"name", "series"} and body["name"] == "requests"
    assert [s["labels"] for s in body["series"]] == [
        {"__name__": "requests_total", "pod": "web-0"},
        {"__name__": "requests_total", "pod": "web-1"},
    ]
    for series in body["series"]:
        assert len(series["points"]) == 20
        assert all(len(point) == 2 for point in series["points"])
        assert [value for _, value in series["points"]] == [5.0 * i for i in range(20)]
    # The same answer as the selector the API is thin over.
    read = instance_metric_series(instance=web, name="requests", since_seconds=900, now=now)
    assert [[list(p) for p in s.points] for s in read] == [
        [list(p) for p in s["points"]] for s in body["series"]
    ]


def test_the_windows_steps_line_up_with_the_stored_points(web, backend):
    now = store_requests(web, backend)

    for window in chart_windows(retention_hours=24):
        series = instance_metric_series(
            instance=web, name="requests_total", since_seconds=window.seconds, now=now
        )
        # The page puts each point on its step's start: one point per step per
        # series; with steps longer than a scrape the two pods (7 s apart) share
        # their x values, but for a step at either end.
        snapped = [{int(at // window.step) * window.step for at, _ in s.points} for s in series]
        assert len(series) == 2
        assert all(len(xs) == len(s.points) for xs, s in zip(snapped, series, strict=True))
        if window.step > 30:
            # (How many steps 10 minutes cover depends on where now falls in one.)
            assert len(snapped[0] ^ snapped[1]) <= 2 and snapped[0] & snapped[1]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("name=requests&since=0", 400, "since must be a number of seconds"),
        ("name=requests&since=1e3", 400, "since must be a number of seconds"),
        ("name=requests%7Bpod%3D%22x%22%7D&since=900", 400, "name must be a metric name"),
        ("name=%3Cscript%3E&since=900", 400, "name must be a metric name"),
    ],
)
def test_hostile_chart_queries_are_refused_with_the_reason(
    web, viewer, settings, query, status, message
):
    settings.ELASTICSEARCH_URL = ""
    answer = browser(viewer).get(f"{API}?{query}")

    assert answer.status_code == status
    assert message in answer.json()["detail"]
    assert "<script>" not in answer.content.decode()


def test_the_windows_fit_in_the_retention():
    assert [(w.seconds, w.label, w.step) for w in chart_windows(retention_hours=168)] == [
        (900, "15 min", 4),
        (3600, "1 h", 15),
        (21600, "6 h", 90),
        (86400, "24 h", 360),
    ]
    assert [w.label for w in chart_windows(retention_hours=2)] == ["15 min", "1 h"]
    assert step_seconds(0, 86400) == 360
