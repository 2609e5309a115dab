from __future__ import annotations

from typing import Any

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
    if settings.CACHES["default"]["BACKEND"].endswith("FileBasedCache"):
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()


@pytest.fixture
def user(db: None) -> Any:
    return make_user("alice")


@pytest.fixture
def staff_user(db: None) -> Any:
    return make_user("root", staff=True)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
