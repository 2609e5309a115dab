"""Fetching archives: through the package cache, every size and digest verified."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from market.cache import cache_get, cache_put
from market.index import archive_key
from market.models import AppVersion
from market.package import read_package
from market.package.model import Package
from market.services.markets import storage_for_market

# Packages read in this process, by archive digest. Reading (inflating, parsing,
# checking the schema, compiling every template) costs tens of milliseconds, and a
# worker installs the same few versions over and over; a digest names immutable
# bytes that were verified when they were read, so the parsed result stays true.
# Bounded by count and by archive bytes so a worker never hoards large packages.
_READ_MAX_PACKAGES = 32
_READ_MAX_BYTES = 64 * 1024 * 1024
_read: OrderedDict[str, Package] = OrderedDict()
_read_lock = threading.Lock()


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
            f" ({version.size}); the archive in storage was changed or swapped, refusing it"
        )
    if "sha256:" + hashlib.sha256(data).hexdigest() != version.digest:
        raise ArchiveMismatch(
            f"{app.name} {version.version}: digest differs from the index"
            f" ({version.digest[:19]}…); the archive in storage was changed or swapped,"
            " refusing it"
        )
    cache_put(version.digest, data)
    return data


def package_loaded(*, version: AppVersion) -> bool:
    """Whether ``package_load`` answers ``version`` from this process's memory, with
    no storage or cache read."""
    with _read_lock:
        return version.digest in _read


def package_load(*, version: AppVersion) -> Package:
    """The read and checked package of ``version``: package_fetch then read_package,
    or the package this process already read from the same verified bytes.
    Raises what those raise (storage errors, ArchiveMismatch, PackageRefused)."""
    with _read_lock:
        package = _read.get(version.digest)
        if package is not None:
            _read.move_to_end(version.digest)
            return package
    package = read_package(package_fetch(version=version), filename=version.archive)
    with _read_lock:
        _read[version.digest] = package
        while len(_read) > _READ_MAX_PACKAGES or (
            len(_read) > 1 and sum(p.size for p in _read.values()) > _READ_MAX_BYTES
        ):
            _read.popitem(last=False)
    return package
