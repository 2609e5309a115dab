"""Site search on the database backend: the embedded default (no Elasticsearch)."""

from __future__ import annotations

import pytest

from market.services.demo import demo_market_load
from portal.actors import Actor
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


def test_a_typo_finds_the_app_with_did_you_mean(search_db, client):
    market = make_market()
    make_app(market, "prometheus", title="Prometheus", summary="metrics and alerts")
    make_app(market, "grafana", title="Grafana", keywords=["dashboards"])
    make_user("erin")
    client.login(username="erin", password=PASSWORD)

    results = search(make_user("frank"), "promethues")
    page = client.get("/search/", {"q": "promethues"}).content.decode()

    assert results.hits[0].title == "Prometheus"
    assert results.did_you_mean == "prometheus" and results.corrected
    assert "Did you mean" in page and 'href="/search/?q=prometheus"' in page
    assert search(make_user("gina"), "dashbaords").hits[0].title == "Grafana"


def test_no_correction_when_the_query_finds_something_or_nothing_is_close(search_db):
    market = make_market()
    make_app(market, "prometheus", title="Prometheus")
    make_app(market, "promtail", title="Promtail")
    user = make_user()

    found = search(user, "promtail")
    unrelated = search(user, "kubernetes")

    assert found.did_you_mean == "" and [h.title for h in found.hits] == ["Promtail"]
    assert unrelated.count == 0 and unrelated.did_you_mean == ""


def test_the_api_says_what_the_corrected_query_was(search_db, api_client):
    make_app(make_market(), "prometheus", title="Prometheus")
    api_client.force_authenticate(make_user())

    api = api_client.get("/api/v1/search/", {"q": "promethues"}).json()

    assert api["did_you_mean"] == "prometheus" and api["corrected"] is True
    assert api["results"][0]["title"] == "Prometheus"


def test_suggestions_rank_whole_words_then_prefixes_then_substrings(search_db, client):
    market = make_market()
    make_app(market, "catalog-sync", title="Catalog Sync")
    make_app(market, "logrotate", title="Logrotate")
    make_app(market, "log-shipper", title="Log Shipper")
    make_user("erin")
    client.login(username="erin", password=PASSWORD)

    titles = [s["title"] for s in client.get("/search/suggest/", {"q": "log"}).json()["results"]]

    assert titles[:3] == ["Log Shipper", "Logrotate", "Catalog Sync"]


def test_docs_snippets_are_text_not_markdown(search_db):
    app = make_app(make_market(), "edge-proxy", title="Edge Proxy")
    body = "# Routing\n\nTerminate **TLS** at the [edge](docs/tls.md) with `certs`.\n"
    make_doc(app, "docs/routing.md", "Routing", body)

    hit = search(make_user(), "terminate", type="appdoc").hits[0]

    assert str(hit.highlight) == "Routing <mark>Terminate</mark> TLS at the edge with certs."


def test_the_demo_market_forgives_promethues_on_the_database_backend(search_db, tmp_path, settings):
    settings.MARKETS_DIR = tmp_path / "markets"
    demo_market_load(actor=Actor.cli())

    results = search(make_user(), "promethues")

    assert results.hits[0].title == "Prometheus Exporter Kit"
    assert results.did_you_mean == "prometheus"


def test_an_instance_is_found_by_its_live_health_and_sync(search_db):
    market = make_market()
    user = make_user()
    ns = make_namespace(make_team("ops", members={user: Role.VIEWER}), "prod")
    sick = make_instance(ns, "cache", market=market, app_name="redis-ops")
    make_instance(ns, "queue", market=market, app_name="redis-ops")
    type(sick).objects.filter(pk=sick.pk).update(live_health="degraded", live_sync="drifted")

    assert [hit.title for hit in search(user, "degraded", type="instance").hits] == [
        "cache in prod"
    ]
    assert [hit.title for hit in search(user, "drifted", type="instance").hits] == ["cache in prod"]
    assert search(user, "missing", type="instance").count == 0
