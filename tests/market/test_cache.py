"""The content-addressed package cache: verified reads, LRU eviction, one download."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from market.cache import CacheCorrupt, cache_evict, cache_get, cache_put
from market.models import AppVersion
from market.services.fetch import package_fetch
from market.services.sync import market_sync
from tests.market.helpers import demo_archive, local_market


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def cache_dir(settings, tmp_path):
    settings.PACKAGE_CACHE_DIR = tmp_path / "cache"
    return settings.PACKAGE_CACHE_DIR


def test_put_then_get_returns_the_same_bytes():
    data = b"archive bytes"
    cache_put(digest_of(data), data)
    assert cache_get(digest_of(data)) == data


def test_put_refuses_data_that_does_not_match_the_digest():
    with pytest.raises(CacheCorrupt):
        cache_put(digest_of(b"one"), b"two")


def test_a_corrupted_entry_is_dropped_on_read(cache_dir):
    data = b"good archive"
    path = cache_put(digest_of(data), data)
    path.write_bytes(b"bit rot")

    assert cache_get(digest_of(data)) is None
    assert not path.exists()


def test_eviction_removes_least_recently_used_first(settings):
    blobs = [bytes([i]) * 1000 for i in range(3)]
    paths = [cache_put(digest_of(b), b) for b in blobs]
    # Make the first the oldest, then use it: the second becomes least recent.
    for age, path in zip((300, 200, 100), paths, strict=True):
        then = time.time() - age
        os.utime(path, (then, then))
    assert cache_get(digest_of(blobs[0])) == blobs[0]

    freed = cache_evict(max_bytes=2000)

    assert freed == 1000
    assert cache_get(digest_of(blobs[1])) is None
    assert cache_get(digest_of(blobs[0])) == blobs[0]
    assert cache_get(digest_of(blobs[2])) == blobs[2]


def test_the_size_cap_holds_after_each_put(settings, cache_dir):
    settings.PACKAGE_CACHE_MAX_BYTES = 2500
    for i in range(5):
        data = bytes([i]) * 1000
        cache_put(digest_of(data), data)
    total = sum(p.stat().st_size for p in cache_dir.glob("??/*"))
    assert total <= 2500


@pytest.mark.django_db
def test_a_package_is_downloaded_once_then_served_from_the_cache(tmp_path):
    from market.services.publish import package_publish
    from portal.actors import Actor

    market = local_market(tmp_path)
    filename, data = demo_archive(tmp_path, "redis-ops", "1.2.0")
    package_publish(actor=Actor.system(), market=market, data=data, filename=filename)
    market_sync(market=market)
    version = AppVersion.objects.get(app__market=market, app__name="redis-ops")
    archive = tmp_path / "market-main/apps/redis-ops/redis-ops-1.2.0.tgz"

    first = package_fetch(version=version)
    archive.unlink()  # a second download would now fail
    second = package_fetch(version=version)

    assert first == second == data
