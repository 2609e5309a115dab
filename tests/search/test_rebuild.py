"""search_rebuild: new indexes, an atomic alias swap, no failed query meanwhile."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.management import call_command

from market.models import App
from search.backends.base import SearchQuery
from search.client import alias_name, alias_targets
from search.services.indexing import index_apply
from search.services.query import search_run
from search.services.rebuild import LOCK_KEY, RebuildRunning, indices_cleanup, search_rebuild
from tests.factories import make_user
from tests.search.helpers import index_everything, make_app, make_market, refresh

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_rebuild_swaps_aliases_and_removes_old_indexes_after_the_grace_period(search_es):
    market = make_market()
    make_app(market, "redis-ops")
    index_everything(search_es)
    first = alias_targets(search_es, "app")

    report = search_rebuild()

    assert alias_targets(search_es, "app") == [report.indexes["app"]] != first
    assert search_es.indices.exists(index=first[0])  # kept for in-flight searches
    assert indices_cleanup(search_es, grace_seconds=300) == []
    removed = indices_cleanup(search_es, grace_seconds=0)
    assert first[0] in removed
    assert not search_es.indices.exists(index=first[0])
    refresh(search_es)
    assert search_es.count(index=alias_name("app"))["count"] == 1
    assert search_es.count(index=alias_name("component"))["count"] > 5


def test_two_rebuilds_cannot_interleave(search_es):
    lock = LOCK_KEY.format(prefix=django_settings.SEARCH_INDEX_PREFIX)
    assert cache.add(lock, "someone else", 60)
    try:
        with pytest.raises(RebuildRunning):
            search_rebuild()
    finally:
        cache.delete(lock)


def test_a_change_indexed_during_a_rebuild_survives_the_swap(search_es):
    market = make_market()
    make_app(market, "redis-ops")
    index_everything(search_es)
    added: list[App] = []

    def during(message: str) -> None:
        if message.startswith("app:") and not added:
            added.append(make_app(market, "late-arrival"))
            index_apply(kind="app", keys=[added[0].pk])

    search_rebuild(progress=during)

    refresh(search_es)
    assert search_es.exists(index=alias_name("app"), id="main/late-arrival")


def test_queries_keep_answering_during_a_rebuild(search_es):
    market = make_market()
    for n in range(30):
        make_app(market, f"exporter-{n}", summary="prometheus exporter")
    index_everything(search_es)
    staff = make_user("root", staff=True)  # no database query per search in the thread
    failures: list[str] = []
    counts: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set() and len(counts) < 2000:
            try:
                results = search_run(user=staff, query=SearchQuery(q="exporter", type="app"))
            except Exception as exc:
                failures.append(repr(exc))
                continue
            if results.degraded:
                failures.append("degraded")
            counts.append(results.count)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        search_rebuild()
        search_rebuild(grace_seconds=0)  # the second one deletes the first one's old indexes
    finally:
        stop.set()
        thread.join(60)

    assert failures == []
    assert counts and set(counts) == {30}


def test_the_command_reports_what_it_built(search_es, capsys):
    make_app(make_market(), "redis-ops")

    call_command("search_rebuild", "--grace", "0")

    out = capsys.readouterr().out
    assert f"app: {alias_name('app')}-" in out
    assert "documents in" in out
