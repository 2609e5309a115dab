"""`GET /api/v1/namespaces/{ns}/instances/{name}/metrics/` (SPEC section 10): the
targets and names, one metric's series, and the instance's permissions."""

from __future__ import annotations

import time
from typing import Any

import pytest

from telemetry.models import ScrapeTarget
from telemetry.samples import InstanceRef, Sample
from telemetry.storage.database import DatabaseMetricsStore
from tests.factories import make_team, make_token, make_user
from tests.telemetry.conftest import cluster_row, deployed, kube_namespace

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

URL = "/api/v1/namespaces/pay-prod/instances/web/metrics/"


@pytest.fixture
def instance(team: Any, settings: Any) -> Any:
    settings.ELASTICSEARCH_URL = ""
    web = deployed(kube_namespace(team, cluster_row(), "pay-prod"))
    ScrapeTarget.objects.create(
        instance=web,
        pod="web-0",
        address="10.1.2.3:9100",
        url="http://10.1.2.3:9100/metrics",
        found_by="pod",
        health="up",
        names=["requests", "queue_depth"],
    )
    ScrapeTarget.objects.create(
        instance=web,
        pod="web-1",
        address="10.1.2.4:9100",
        url="http://10.1.2.4:9100/metrics",
        found_by="pod",
        health="down",
        last_error="no complete answer within 10s",
        names=[],
    )
    now = time.time()
    DatabaseMetricsStore().samples_store(
        instance_id=web.pk,
        instance=InstanceRef("pay-prod", "web", "webapp", "1.2.0"),
        samples=[
            Sample("requests_total", 10.0 * i, now - 90 + 30 * i, "counter", {"pod": "web-0"})
            for i in range(3)
        ],
    )
    return web


def get(api_client: Any, user: Any, url: str = URL) -> Any:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)}")
    return api_client.get(url)


def test_a_team_member_reads_the_targets_and_names(api_client, viewer, instance):
    answer = get(api_client, viewer)

    assert answer.status_code == 200
    body = answer.json()
    assert body["names"] == ["queue_depth", "requests"]
    assert [(t["pod"], t["address"], t["health"], t["last_error"]) for t in body["targets"]] == [
        ("web-0", "10.1.2.3:9100", "up", ""),
        ("web-1", "10.1.2.4:9100", "down", "no complete answer within 10s"),
    ]
    assert set(body["targets"][0]) == {"address", "pod", "health", "last_scrape", "last_error"}


def test_one_metric_answers_its_series_of_points(api_client, viewer, instance):
    answer = get(api_client, viewer, f"{URL}?name=requests_total&since=600")

    assert answer.status_code == 200
    body = answer.json()
    assert body["name"] == "requests_total"
    (series,) = body["series"]
    assert series["labels"] == {"__name__": "requests_total", "pod": "web-0"}
    assert [value for _, value in series["points"]] == [0.0, 10.0, 20.0]
    assert all(abs(at - time.time()) < 200 for at, _ in series["points"])
    # Outside the window: nothing.
    assert get(api_client, viewer, f"{URL}?name=requests_total&since=10").json()["series"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("name=requests_total&since=-5", "since must be a number of seconds"),
        ("name=requests_total&since=abc", "since must be a number of seconds"),
        ("name=requests_total&since=%C2%B2", "since must be a number of seconds"),  # "²"
        ("name=requests_total&since=99999999", "since must be a number of seconds"),
        ("name=up%7Bjob%3D%22x%22%7D", "name must be a metric name"),
        ("name=", "name must be a metric name"),
        ("name=" + "a" * 300, "name must be a metric name"),
    ],
)
def test_bad_queries_are_refused_with_the_reason(api_client, viewer, instance, query, message):
    answer = get(api_client, viewer, f"{URL}?{query}")
    assert answer.status_code == 400
    assert message in answer.json()["detail"]


def test_another_teams_instance_is_not_found(api_client, instance):
    outsider = make_user("oscar")
    make_team("search", members={outsider: "admin"})
    for url in (URL, f"{URL}?name=requests_total"):
        answer = get(api_client, outsider, url)
        assert answer.status_code == 404
        assert "requests" not in answer.content.decode()


def test_anonymous_callers_are_refused(api_client, instance):
    assert api_client.get(URL).status_code in (401, 403)


def test_staff_read_any_instance(api_client, instance):
    staff = make_user("root", staff=True)
    assert get(api_client, staff).status_code == 200


def test_an_instance_without_targets_answers_empty_lists(api_client, viewer, team, settings):
    settings.ELASTICSEARCH_URL = ""
    deployed(kube_namespace(team, cluster_row(), "pay-prod"), "quiet")
    answer = get(api_client, viewer, "/api/v1/namespaces/pay-prod/instances/quiet/metrics/")
    assert answer.status_code == 200
    assert answer.json() == {"targets": [], "names": []}
