"""Child-process side of the publish concurrency tests (and the publish benchmark).

A spawned child starts with a fresh interpreter: it sets Django up itself before
importing anything that touches models, then publishes through the storage half of
the real publish path (`publish_to_storage`): archive create-only, index.json and
market.json compare-and-swap. No database is involved, so the children need none of
the test database.
"""

from __future__ import annotations

import os
import traceback
import uuid
from pathlib import Path
from typing import Any

from market.storage.base import Blob, MarketStorage, PreconditionFailed
from tests.market.storage_fixtures import StorageSpec

# --- packages ------------------------------------------------------------------

MANIFEST = """\
schema: 1
name: {name}
version: "{version}"
title: {title}
summary: A tiny app published by the concurrency tests.
category: testing
keywords: [race, {name}]
license: Apache-2.0
"""


def build_archive(workdir: Path, name: str, version: str, readme: str = "") -> tuple[str, bytes]:
    """(file name, bytes) of a small valid package built by the real builder."""
    from market.package import build_package

    source = workdir / "src" / uuid.uuid4().hex / name
    (source / "templates").mkdir(parents=True)
    (source / "manifest.yaml").write_text(
        MANIFEST.format(name=name, version=version, title=name.replace("-", " ").title())
    )
    (source / "README.md").write_text(readme or f"# {name} {version}\n")
    (source / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ instance.name }}\n"
    )
    built = build_package(source, out_dir=workdir / "built" / source.parent.name)
    return built.path.name, built.path.read_bytes()


# --- a storage that counts market.json writes --------------------------------------


class CountingStorage(MarketStorage):
    """Delegates to `inner`, counting the market.json writes that went through: the
    serial must equal their sum over every publisher."""

    def __init__(self, inner: MarketStorage) -> None:
        super().__init__(writable=inner.writable)
        self.inner = inner
        self.market_json_writes = 0
        self.conflicts = 0

    def describe(self) -> str:
        return self.inner.describe()

    def _get(self, key: str) -> Blob:
        return self.inner.get(key)

    def _get_if_changed(self, key: str, etag: str) -> Blob | None:
        return self.inner.get_if_changed(key, etag)

    def _put_new(self, key: str, data: bytes, content_type: str) -> str:
        return self.inner.put_new(key, data, content_type=content_type)

    def _put_if_match(self, key: str, data: bytes, etag: str | None, content_type: str) -> str:
        try:
            etag = self.inner.put_if_match(key, data, etag, content_type=content_type)
        except PreconditionFailed:
            self.conflicts += 1
            raise
        if key == "market.json":
            self.market_json_writes += 1
        return etag

    def _delete(self, key: str) -> None:
        self.inner.delete(key)

    def _exists(self, key: str) -> bool:
        return self.inner.exists(key)


# --- child bodies ------------------------------------------------------------------


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()


def publish_many(
    spec: StorageSpec,
    market_name: str,
    archives: list[tuple[str, bytes]],
    publisher: str,
    results: Any,
) -> None:
    """Publish `archives` one after the other; put one dict on the `results` queue:
    `{"publisher", "published": [[name, version, digest, created], ...],
    "market_json_writes", "conflicts", "error"}`."""
    report: dict[str, Any] = {"publisher": publisher, "published": [], "error": None}
    storage = CountingStorage(spec.open())
    try:
        setup_django()
        from market.services.publish import publish_to_storage

        for filename, data in archives:
            result = publish_to_storage(
                storage=storage,
                market_name=market_name,
                data=data,
                filename=filename,
                publisher=publisher,
            )
            report["published"].append([result.name, result.version, result.digest, result.created])
    except BaseException:
        report["error"] = traceback.format_exc()
    report["market_json_writes"] = storage.market_json_writes
    report["conflicts"] = storage.conflicts
    results.put(report)


def publish_at_barrier(
    spec: StorageSpec,
    market_name: str,
    archives: list[tuple[str, bytes]],
    publisher: str,
    barrier: Any,
    results: Any,
) -> None:
    """For each archive: wait for the other racer at `barrier`, then publish. Puts one
    dict on `results`: `{"publisher", "outcomes": [["ok", digest] | ["conflict",
    message], ...], "error"}`."""
    report: dict[str, Any] = {"publisher": publisher, "outcomes": [], "error": None}
    try:
        setup_django()
        from market.index import VersionConflict
        from market.services.publish import publish_to_storage

        storage = spec.open()
        for filename, data in archives:
            barrier.wait(timeout=60)
            try:
                result = publish_to_storage(
                    storage=storage,
                    market_name=market_name,
                    data=data,
                    filename=filename,
                    publisher=publisher,
                )
            except VersionConflict as conflict:
                report["outcomes"].append(["conflict", str(conflict)])
            else:
                report["outcomes"].append(["ok", result.digest])
    except BaseException:
        report["error"] = traceback.format_exc()
        barrier.abort()
    results.put(report)
