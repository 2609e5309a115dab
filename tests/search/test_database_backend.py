"""Site search on the database backend: the embedded default (no Elasticsearch)."""

from __future__ import annotations

import pytest

from portal.models import Role
from search.backends.base import SearchQuery
from search.models import PendingIndex
from search.services.indexing import index_later
from search.services.query import search_run
from tests.factories import PASSWORD, make_namespace, make_team, make_user
from tests.search.helpers import make_app, make_doc, make_instance, make_market

pytestmark = pytest.mark.django_db


def search(user, q="", **kwargs):
    results = search_run(user=user, query=SearchQuery(q=q, **kwargs))
    assert results.degraded is False  # the configured backend, not a fallback
    return results


def test_an_app_found_by_its_exact_name_ranks_first(search_db):
    market = make_market()
    make_app(market, "redis-exporter", summary="metrics for redis-ops users")
    make_app(market, "redis-ops", summary="backups")
    make_doc(make_app(market, "cache-kit"), "docs/redis-ops.md", "redis-ops notes", "redis-ops")

    results = search(make_user(), "redis-ops")

    assert results.hits[0].url == "/market/main/redis-ops/"
    assert results.count == 3  # the two redis apps and the docs page


def test_instances_of_other_teams_are_not_in_results_counts_or_facets(search_db):
    market = make_market()
    alice, bob = make_user("alice"), make_user("bob")
    ns_a = make_namespace(make_team("team-a", members={alice: Role.VIEWER}), "ns-a")
    ns_b = make_namespace(make_team("team-b", members={bob: Role.VIEWER}), "ns-b")
    make_instance(ns_a, "redis-a", market=market, app_name="redis-ops")
    make_instance(ns_b, "redis-b", market=market, app_name="redis-ops", status="failed")

    seen = search(alice, "redis")

    assert [hit.title for hit in seen.hits] == ["redis-a in ns-a"]
    assert seen.count == 1
    assert dict(seen.facets["namespace"]) == {"ns-a": 1}
    assert dict(seen.facets["status"]) == {"deployed": 1}
    assert search(make_user("root", staff=True), "redis").count == 2


def test_a_component_doc_is_found_by_a_word_from_its_body(search_db):
    results = search(make_user(), "debounced")

    assert [hit.url for hit in results.hits] == ["/docs/components/search-box/"]


def test_a_chinese_summary_is_found_by_a_chinese_query(search_db):
    make_app(make_market(), "log-collector", title="Log Collector", summary="日志采集与转发")

    results = search(make_user(), "日志")

    assert [hit.title for hit in results.hits] == ["Log Collector"]
    assert "<mark>日志</mark>" in str(results.hits[0].highlight)


def test_an_empty_query_browses_by_type_and_facet(search_db):
    market = make_market()
    make_app(market, "node-probe", category="monitoring")
    make_app(market, "node-logs", category="logging")

    apps = search(make_user(), "", type="app", filters={"category": "logging"})

    assert [hit.title for hit in apps.hits] == ["Node Logs"]
    assert dict(apps.facets["type"])["app"] == 1


def test_highlights_escape_hostile_text(search_db):
    make_app(make_market(), "xss", summary='<img src=x onerror="alert(1)"> exporter')

    hit = search(make_user(), "exporter").hits[0]

    assert "<img" not in str(hit.highlight)
    assert "<mark>exporter</mark>" in str(hit.highlight)


def test_index_later_does_nothing_without_elasticsearch(search_db):
    index_later("app", [1, 2])

    assert not PendingIndex.objects.exists()


def test_pages_and_api_answer(search_db, client, api_client):
    make_app(make_market(), "grafana-dashboards", title="Grafana Dashboards")
    user = make_user("erin")
    client.login(username="erin", password=PASSWORD)
    api_client.force_authenticate(user)

    page = client.get("/search/", {"q": "grafana", "page": "x"})
    browse = client.get("/search/")
    suggest = client.get("/search/suggest/", {"q": "graf"}).json()
    api = api_client.get("/api/v1/search/", {"q": "grafana", "type": "nonsense"}).json()

    assert page.status_code == 200 and browse.status_code == 200
    assert b"Grafana Dashboards" in page.content and b"data-degraded" not in page.content
    assert b"UI components" in browse.content
    assert suggest["results"][0]["url"] == "/market/main/grafana-dashboards/"
    assert api["count"] == 1 and api["degraded"] is False
    assert api["results"][0]["title"] == "Grafana Dashboards"
