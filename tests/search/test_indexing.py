"""Indexing follows the database: after commit, in bulk, and never at the cost of a write."""

from __future__ import annotations

import pytest
from django.db import transaction

from deployments.services.namespaces import namespace_delete
from market.models import App
from market.services.markets import market_remove
from market.services.publish import package_publish
from market.services.sync import market_sync
from portal.actors import Actor
from portal.models import Role
from search.backends.base import SearchQuery
from search.client import alias_name, es_client, indices_ensure
from search.models import PendingIndex
from search.services.indexing import index_later
from search.services.query import forget_failures, search_run
from search.tasks import search_repair_task
from tests.factories import make_namespace, make_team, make_user
from tests.market.helpers import demo_archive, local_market
from tests.search.conftest import CLOSED_URL, ES_URL
from tests.search.helpers import index_everything, make_app, make_doc, make_market, refresh

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def doc_ids(client, kind):
    refresh(client)
    hits = client.search(index=alias_name(kind), size=100)["hits"]["hits"]
    return sorted(hit["_id"] for hit in hits)


def publish(market, tmp_path, name, version):
    filename, data = demo_archive(tmp_path, name, version)
    return package_publish(actor=Actor.system(), market=market, data=data, filename=filename)


@pytest.mark.django_db
def test_index_later_waits_for_commit_and_a_rollback_forgets_it(
    search_es, eager_tasks, django_capture_on_commit_callbacks
):
    index_everything(search_es)
    market = make_market()
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        app = make_app(market, "slo-tracker")
        index_later("app", [app.pk])
        assert doc_ids(search_es, "app") == []
    assert len(callbacks) == 1
    assert PendingIndex.objects.filter(kind="app", key=str(app.pk)).count() == 1
    assert doc_ids(search_es, "app") == []  # nothing sent before the callback ran

    callbacks[0]()

    assert doc_ids(search_es, "app") == ["main/slo-tracker"]
    assert not PendingIndex.objects.exists()

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        index_later("app", [app.pk])
        raise RuntimeError("rolled back")
    assert callbacks == [] and not PendingIndex.objects.exists()


def test_index_later_refuses_an_unknown_kind(search_es):
    with pytest.raises(ValueError):
        index_later("user", [1])


def test_a_sync_reindexes_only_the_apps_that_changed(search_es, eager_tasks, tmp_path):
    market = local_market(tmp_path)
    publish(market, tmp_path, "redis-ops", "1.2.0")
    publish(market, tmp_path, "cert-watcher", "0.4.0")
    assert doc_ids(search_es, "app") == ["main/cert-watcher", "main/redis-ops"]
    before = {
        name: search_es.get(index=alias_name("app"), id=f"main/{name}")["_version"]
        for name in ("redis-ops", "cert-watcher")
    }

    publish(market, tmp_path, "redis-ops", "1.3.0")

    after = {
        name: search_es.get(index=alias_name("app"), id=f"main/{name}")
        for name in ("redis-ops", "cert-watcher")
    }
    assert after["cert-watcher"]["_version"] == before["cert-watcher"]
    assert after["redis-ops"]["_version"] > before["redis-ops"]
    assert after["redis-ops"]["_source"]["version"] == "1.3.0"
    # README and docs pages arrive with the details refresh after the sync.
    assert any(i.startswith("main/redis-ops/docs/") for i in doc_ids(search_es, "appdoc"))
    assert not PendingIndex.objects.exists()


def test_deleted_rows_lose_their_documents(search_es, eager_tasks, tmp_path):
    market = local_market(tmp_path)
    publish(market, tmp_path, "redis-ops", "1.2.0")
    ns = make_namespace(make_team("ops"), "scratch")
    index_later("namespace", [ns.pk])
    assert doc_ids(search_es, "namespace") == ["scratch"]
    assert doc_ids(search_es, "appdoc")

    namespace_delete(actor=Actor.system(), namespace=ns)
    market_remove(actor=Actor.system(), market=market)

    assert doc_ids(search_es, "namespace") == []
    assert doc_ids(search_es, "app") == []
    assert doc_ids(search_es, "appdoc") == []


def test_writes_succeed_while_elasticsearch_is_down_and_the_repair_task_catches_up(
    search_es, eager_tasks, tmp_path, settings
):
    index_everything(search_es)
    user = make_user()
    team = make_team("ops", members={user: Role.VIEWER})
    settings.ELASTICSEARCH_URL = CLOSED_URL

    market = local_market(tmp_path)
    result = publish(market, tmp_path, "redis-ops", "1.2.0")
    ns = make_namespace(team, "prod")
    index_later("namespace", [ns.pk])
    market.refresh_from_db()
    report = market_sync(market=market)  # a second sync: nothing new, still no error

    assert result.created and report.skipped == []
    assert App.objects.filter(name="redis-ops").exists()
    assert PendingIndex.objects.filter(kind="app").exists()
    degraded = search_run(user=user, query=SearchQuery(q="redis-ops"))
    assert degraded.degraded is True
    assert [hit.url for hit in degraded.hits][:1] == ["/market/main/redis-ops/"]

    settings.ELASTICSEARCH_URL = ES_URL
    forget_failures()
    search_repair_task()

    assert not PendingIndex.objects.exists()
    assert doc_ids(search_es, "app") == ["main/redis-ops"]
    assert doc_ids(search_es, "namespace") == ["prod"]
    healthy = search_run(user=user, query=SearchQuery(q="redis-ops"))
    assert healthy.degraded is False and healthy.hits[0].url == "/market/main/redis-ops/"


def test_the_search_page_answers_from_the_database_when_elasticsearch_is_down(
    search_es, settings, client
):
    make_app(make_market(), "grafana-dashboards", title="Grafana Dashboards")
    make_user("dave")
    client.login(username="dave", password="correct-horse-battery-staple")
    settings.ELASTICSEARCH_URL = CLOSED_URL

    page = client.get("/search/", {"q": "grafana"})
    suggest = client.get("/search/suggest/", {"q": "graf"})

    assert page.status_code == 200
    assert b"data-degraded" in page.content and b"Grafana Dashboards" in page.content
    assert suggest.status_code == 200
    assert suggest.json()["results"][0]["title"] == "Grafana Dashboards"


def test_the_repair_task_follows_component_docs_files(search_es, settings, tmp_path):
    index_everything(search_es)
    folder = tmp_path / "docs" / "components"
    folder.mkdir(parents=True)
    (folder / "gauge.md").write_text(
        "---\ntitle: Gauge\nsummary: A dial.\n---\n\nShows saturation as a dial.\n"
    )
    settings.BASE_DIR = tmp_path  # the component docs folder is BASE_DIR/docs/components

    search_repair_task()

    assert doc_ids(search_es, "component") == ["gauge"]
    (folder / "gauge.md").unlink()
    search_repair_task()
    assert doc_ids(search_es, "component") == []


def test_indexes_left_empty_after_first_use_are_loaded_by_the_repair_task(search_es):
    make_app(make_market(), "redis-ops")
    # What a first search leaves when the task that loads the new indexes is lost.
    indices_ensure(es_client())

    search_repair_task()

    assert doc_ids(search_es, "app") == ["main/redis-ops"]
    assert "search-box" in doc_ids(search_es, "component")


@pytest.mark.parametrize("slice_size", [1, 10_000])
def test_a_removed_docs_page_leaves_the_index_across_chunks_and_slices(
    search_es, monkeypatch, slice_size
):
    """Stale documents are looked for once after every chunk is written, in slices
    of keys; a keep list longer than a slice is applied without an ids query."""
    from search.services import indexing

    monkeypatch.setattr(indexing, "CHUNK", 2)  # three chunks for five apps
    monkeypatch.setattr(indexing, "STALE_TERMS", slice_size)
    market = make_market()
    apps = [make_app(market, f"app-{n}") for n in range(5)]
    pages = [make_doc(app, f"docs/{p}.md", f"Page {p}", "body") for app in apps for p in "ab"]
    indexing.index_apply(kind="app", keys=[app.pk for app in apps])
    assert len(doc_ids(search_es, "appdoc")) == 10

    pages[0].delete()  # app-0's page a
    pages[9].delete()  # app-4's page b
    report = indexing.index_apply(kind="app", keys=[app.pk for app in apps])

    assert report.deleted == 2 and not report.failed
    expected = {f"main/app-{n}/docs/{p}.md" for n in range(5) for p in "ab"}
    expected -= {"main/app-0/docs/a.md", "main/app-4/docs/b.md"}
    assert doc_ids(search_es, "appdoc") == sorted(expected)
