from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import make_user


@pytest.fixture(autouse=True)
def _clear_cache(settings: Any) -> None:
    # Rate-limit counters live in the cache; one test's failures must not leak.
    # The embedded file cache sits in the shared data folder, where parallel runs
    # (xdist workers, two suites in one checkout) would clear each other's
    # counters mid-test; each test process gets its own memory cache instead.
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("RedisCache"):
        # A key space of its own per test: clear() would FLUSHDB the shared Redis
        # under other xdist workers (and the broker's keys with it).
        settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": uuid4().hex}}
        return
    if backend.endswith("FileBasedCache"):
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()


# Writes index into Elasticsearch after commit when tasks run eagerly: under a prefix
# of this test process's own, never the default one, deleted when the session ends.
# (tests/search gives each test a prefix of its own on top of this.)
SEARCH_TEST_PREFIX = f"test-{uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _search_index_of_its_own(settings: Any) -> None:
    settings.SEARCH_INDEX_PREFIX = SEARCH_TEST_PREFIX


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    url = os.environ.get("ELASTICSEARCH_URL")
    if not url:
        return
    import logging

    from elasticsearch import Elasticsearch

    # Quiet: nothing may print after pytest's closing summary line.
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    try:
        with Elasticsearch(url, request_timeout=10) as client:
            client.options(ignore_status=404).indices.delete(
                index=f"{SEARCH_TEST_PREFIX}-*", expand_wildcards="all"
            )
    except Exception:  # the server being down must not fail (or end) the run's output
        logging.getLogger(__name__).debug("test indexes %s-* not deleted", SEARCH_TEST_PREFIX)


@pytest.fixture
def eager_tasks(settings: Any) -> Iterator[None]:
    """Run queued tasks in this process when their transaction commits, as a worker
    would right after. Worker processes have tests of their own (tests/workflow)."""
    from portal.celery import app

    # Read before changing the setting: the first read of app.conf loads it from the
    # settings, and would take the eager value for good.
    before = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = before


@pytest.fixture
def user(db: None) -> Any:
    return make_user("alice")


@pytest.fixture
def staff_user(db: None) -> Any:
    return make_user("root", staff=True)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


# The smoke run (`make test-smoke`) runs these on the embedded defaults — SQLite,
# the filesystem broker, the database search backend — besides tests/smoke/. They
# are the paths a newcomer's `make run` exercises; the services run covers the rest.
SMOKE_MODULES = (
    "tests/portal/test_health.py",
    "tests/portal/test_api_tokens.py",
    "tests/portal/test_web_teams.py",
    "tests/portal/test_settings.py",
    "tests/market/test_publish_sync.py",
    "tests/market/test_cache.py",
    "tests/market/test_web_catalogue.py",
    "tests/market/test_web_publish.py",
    "tests/search/test_database_backend.py",
    "tests/deployments/test_engine.py",
    "tests/deployments/test_api.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("::", 1)[0] in SMOKE_MODULES:
            item.add_marker(pytest.mark.smoke)
