"""Fetching archives: through the package cache, every size and digest verified."""

from __future__ import annotations

import hashlib

from market.cache import cache_get, cache_put
from market.index import archive_key
from market.models import AppVersion
from market.services.markets import storage_for_market


class ArchiveMismatch(Exception):
    """An archive does not match the size or digest its index promised."""


def package_fetch(*, version: AppVersion) -> bytes:
    """The verified archive bytes of `version`; downloaded at most once."""
    cached = cache_get(version.digest)
    if cached is not None:
        return cached
    app = version.app
    storage = storage_for_market(app.market)
    data = storage.get(archive_key(app.name, version.version)).data
    if len(data) != version.size:
        raise ArchiveMismatch(
            f"{app.name} {version.version}: size {len(data)} differs from the index"
            f" ({version.size})"
        )
    if "sha256:" + hashlib.sha256(data).hexdigest() != version.digest:
        raise ArchiveMismatch(f"{app.name} {version.version}: digest differs from the index")
    cache_put(version.digest, data)
    return data
