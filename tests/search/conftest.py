"""Fixtures for site search tests.

`search_es` points search at the real Elasticsearch under an index prefix of its
own (unique per xdist worker and test), and deletes that prefix's indexes after.
`search_db` forces the database backend. Neither ever stops the shared server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from elasticsearch import Elasticsearch

from search.client import forget_ensured
from search.services.query import forget_failures
from tests.deployments.conftest import (  # noqa: F401 - fixtures for test_instances_workflow
    apps_market,
    gitops_repo,
    namespace,
    operator,
)

ES_URL = os.environ.get("ELASTICSEARCH_URL", "")
CLOSED_URL = "http://127.0.0.1:1"  # nothing listens there: connection refused at once


def _reset() -> None:
    forget_ensured()
    forget_failures()


@pytest.fixture
def search_es(settings: Any) -> Iterator[Elasticsearch]:
    if not ES_URL:
        pytest.skip("ELASTICSEARCH_URL is not set")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    prefix = f"test-search-{worker}-{uuid4().hex[:8]}"
    settings.ELASTICSEARCH_URL = ES_URL
    settings.SEARCH_BACKEND = "elasticsearch"
    settings.SEARCH_INDEX_PREFIX = prefix
    # A loaded test host must not turn a slow answer into a database fallback.
    settings.SEARCH_TIMEOUT_MS = 20_000
    _reset()
    client = Elasticsearch(ES_URL, request_timeout=30)
    try:
        yield client
    finally:
        client.options(ignore_status=404).indices.delete(
            index=f"{prefix}-*", expand_wildcards="all"
        )
        client.close()
        _reset()


@pytest.fixture
def search_db(settings: Any) -> Iterator[None]:
    settings.SEARCH_BACKEND = "database"
    _reset()
    yield
    _reset()


@pytest.fixture(autouse=True)
def _own_package_cache(settings: Any, tmp_path: Any) -> None:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
