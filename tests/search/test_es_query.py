"""What a user finds through site search on the real Elasticsearch."""

from __future__ import annotations

import pytest

from market.services.demo import demo_market_load
from portal.actors import Actor
from portal.models import Role
from search.backends.base import SearchQuery
from search.services.query import search_run, search_suggest
from tests.factories import PASSWORD, make_namespace, make_team, make_user
from tests.search.helpers import index_everything, make_app, make_doc, make_instance, make_market

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def search(user, q="", **kwargs):
    results = search_run(user=user, query=SearchQuery(q=q, **kwargs))
    assert results.degraded is False
    return results


def titles(results):
    return [hit.title for hit in results.hits]


def test_misspelled_queries_find_the_demo_apps(search_es, tmp_path, settings):
    settings.MARKETS_DIR = tmp_path / "markets"
    demo_market_load(actor=Actor.cli())
    index_everything(search_es)
    user = make_user()

    promethues = search(user, "promethues", type="app")
    grafna = search(user, "grafna", type="app")

    assert titles(promethues)[0] == "Prometheus Exporter Kit"
    assert titles(grafna)[0] == "Grafana Dashboards for SRE"
    assert "<mark>" in str(grafna.hits[0].highlight)


def test_an_app_found_by_its_exact_name_ranks_first(search_es):
    market = make_market()
    make_app(market, "redis-ops", summary="Backups and failover for redis and redis-exporter")
    make_app(market, "redis-exporter", summary="redis-ops metrics: redis, redis, redis")
    make_app(market, "cache-tools", summary="redis-ops companion for redis clusters")
    index_everything(search_es)

    results = search(make_user(), "redis-ops")

    assert results.hits[0].url == "/market/main/redis-ops/"


def test_a_chinese_summary_is_found_by_a_chinese_query(search_es):
    market = make_market()
    make_app(market, "log-collector", title="Log Collector", summary="日志采集与转发 支持多行合并")
    make_app(market, "alert-router", title="Alert Router", summary="告警路由与静默")
    index_everything(search_es)

    results = search(make_user(), "日志采集")

    assert titles(results) == ["Log Collector"]
    assert "<mark>日志采集</mark>" in str(results.hits[0].highlight)


def test_a_component_doc_is_found_by_a_word_from_its_body(search_es):
    index_everything(search_es)

    # "debounced" appears only in the body of docs/components/search-box.md.
    results = search(make_user(), "debounced", type="component")

    assert [hit.url for hit in results.hits] == ["/docs/components/search-box/"]


def test_app_docs_pages_are_found_and_link_to_the_docs_page(search_es):
    app = make_app(make_market(), "cert-watcher")
    body = "How certificates are renewed by cert-manager."
    make_doc(app, "docs/guides/renewal.md", "Renewal", body)
    index_everything(search_es)

    results = search(make_user(), "renewed", type="appdoc")

    assert [(h.title, h.url) for h in results.hits] == [
        ("Renewal", "/market/main/cert-watcher/docs/guides/renewal")
    ]


def test_a_user_never_sees_another_teams_instances_in_results_counts_or_facets(search_es):
    market = make_market()
    alice, bob = make_user("alice"), make_user("bob")
    team_a = make_team("team-a", members={alice: Role.VIEWER})
    team_b = make_team("team-b", members={bob: Role.VIEWER})
    ns_a, ns_b = make_namespace(team_a, "ns-a"), make_namespace(team_b, "ns-b")
    make_instance(ns_a, "redis-a", market=market, app_name="redis-ops")
    make_instance(ns_b, "redis-b", market=market, app_name="redis-ops", status="failed")
    index_everything(search_es)

    for q in ("redis", ""):
        seen = search(alice, q, type="instance")
        assert titles(seen) == ["redis-a in ns-a"]
        assert seen.count == 1
        assert dict(seen.facets["namespace"]) == {"ns-a": 1}
        assert dict(seen.facets["status"]) == {"deployed": 1}
        assert dict(seen.facets["type"])["instance"] == 1
    by_name = search(alice, "ns-b")
    assert "ns-b" not in dict(by_name.facets["namespace"])
    assert all(hit.meta.get("namespace") != "ns-b" for hit in by_name.hits)
    staff = search(make_user("root", staff=True), "redis", type="instance")
    assert staff.count == 2


def test_instance_documents_hold_value_keys_and_resources_never_values(search_es):
    market = make_market()
    user = make_user()
    ns = make_namespace(make_team("ops", members={user: Role.VIEWER}), "prod")
    make_instance(
        ns, "cache", market=market, app_name="redis-ops",
        values={"auth": {"password": "hunter2-secret"}, "replicas": 3},
    )  # fmt: skip
    index_everything(search_es)

    assert titles(search(user, "auth.password")) == ["cache in prod"]
    assert titles(search(user, "cache-server")) == ["cache in prod"]  # Deployment/cache-server
    assert search(user, "hunter2-secret").count == 0
    source = search_es.search(index=f"{search_es_prefix(search_es)}-instance")["hits"]["hits"][0]
    assert "hunter2" not in str(source)


def search_es_prefix(client):
    from django.conf import settings

    return settings.SEARCH_INDEX_PREFIX


def test_facets_filter_and_keep_the_other_values_counted(search_es):
    main, edge = make_market("main"), make_market("edge")
    make_app(main, "node-probe", category="monitoring", summary="probe nodes")
    make_app(edge, "node-logs", category="logging", summary="ship node logs")
    index_everything(search_es)
    user = make_user()

    results = search(user, "node", filters={"category": "logging"})

    assert titles(results) == ["Node Logs"]
    assert dict(results.facets["category"]) == {"monitoring": 1, "logging": 1}
    assert dict(results.facets["market"]) == {"edge": 1}


def test_highlights_escape_document_text(search_es):
    make_app(make_market(), "xss-app", summary='<script>alert("x")</script> exporter')
    index_everything(search_es)

    hit = search(make_user(), "exporter").hits[0]

    assert "<script>" not in str(hit.highlight)
    assert "&lt;script&gt;" in str(hit.highlight)
    assert "<mark>exporter</mark>" in str(hit.highlight)


def test_search_page_suggest_and_api_answer_for_a_signed_in_user(search_es, client, api_client):
    make_app(make_market(), "grafana-dashboards", title="Grafana Dashboards", summary="Boards")
    index_everything(search_es)
    user = make_user("carol")
    client.login(username="carol", password=PASSWORD)
    api_client.force_authenticate(user)

    page = client.get("/search/", {"q": "grafna"})
    suggest = client.get("/search/suggest/", {"q": "graf"}).json()
    api = api_client.get("/api/v1/search/", {"q": "grafana", "type": "app"}).json()

    assert page.status_code == 200
    assert b"Grafana Dashboards" in page.content and b"data-degraded" not in page.content
    assert suggest["results"][0] == {
        "type": "Apps", "title": "Grafana Dashboards", "url": "/market/main/grafana-dashboards/"
    }  # fmt: skip
    assert api["count"] == 1 and api["degraded"] is False
    assert api["results"][0]["url"] == "/market/main/grafana-dashboards/"
    assert {"type", "title", "url", "highlight"} <= set(api["results"][0])
    assert {"value": "app", "count": 1} in api["facets"]["type"]


def test_anonymous_users_get_no_search(search_es, client, api_client):
    assert client.get("/search/", {"q": "x"}).status_code == 302
    assert api_client.get("/api/v1/search/", {"q": "x"}).status_code in (401, 403)


@pytest.mark.parametrize(
    "q",
    [
        'name:"redis" AND (x OR y)*~2 \\ / [ { ^',
        "x" * 5000,
        # (A NUL is refused with a 400 before any view: tests/portal/test_api_hostile_bodies.py)
        "\ue000\ue001<mark>",
        "   ",
    ],
)
def test_hostile_queries_answer_without_error_or_fallback(search_es, client, q):
    make_app(make_market(), "redis-ops")
    index_everything(search_es)
    make_user("mallory")
    client.login(username="mallory", password=PASSWORD)

    page = client.get("/search/", {"q": q, "page": "99999", "category": "<b>x</b>"})
    api = client.get("/api/v1/search/", {"q": q, "type": "app", "page": "-3"})

    assert page.status_code == 200 and b"data-degraded" not in page.content
    assert b"<b>x</b>" not in page.content
    assert api.status_code == 200 and api.json()["degraded"] is False


def test_docs_snippets_and_summaries_are_text_not_markdown(search_es):
    app = make_app(make_market(), "edge-proxy", title="Edge Proxy")
    body = "# Routing\n\nTerminate **TLS** at the [edge](docs/tls.md) with `certs`.\n"
    make_doc(app, "docs/routing.md", "Routing", body)
    index_everything(search_es)

    hit = search(make_user(), "terminate", type="appdoc").hits[0]

    assert "<mark>Terminate</mark> TLS at the edge with certs." in str(hit.highlight)
    assert "**" not in hit.summary and "](" not in hit.summary


def test_suggestions_rank_whole_words_then_prefixes_then_substrings(search_es):
    market = make_market()
    make_app(market, "catalog-sync", title="Catalog Sync", summary="log of changes")
    make_app(market, "logrotate", title="Logrotate")
    make_app(market, "log-shipper", title="Log Shipper")
    index_everything(search_es)

    found = search_suggest(user=make_user(), q="log")

    assert [s.title for s in found][:2] == ["Log Shipper", "Logrotate"]


def test_an_instance_is_found_by_its_live_health_and_sync(search_es):
    market = make_market()
    user = make_user()
    ns = make_namespace(make_team("ops", members={user: Role.VIEWER}), "prod")
    sick = make_instance(ns, "cache", market=market, app_name="redis-ops")
    make_instance(ns, "queue", market=market, app_name="redis-ops")
    type(sick).objects.filter(pk=sick.pk).update(live_health="degraded", live_sync="drifted")
    index_everything(search_es)

    assert titles(search(user, "degraded", type="instance")) == ["cache in prod"]
    assert titles(search(user, "drifted", type="instance")) == ["cache in prod"]
    assert search(user, "missing", type="instance").count == 0
