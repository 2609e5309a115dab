"""market_sync stores apps a chunk at a time, with a fixed number of queries per
chunk, and downloads several index.json at once: the catalogue it leaves and the
report it gives must be the same as app by app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from market.models import App, AppVersion, Market
from market.services import sync as sync_module
from market.services.markets import market_add
from market.services.sync import market_sync
from market.storage.base import TransientStorageError
from market.storage.local import LocalStorage
from portal.actors import Actor
from tests.market.disk_market import DiskMarket

pytestmark = pytest.mark.django_db


def subscribe(root: Path, name: str = "mirror") -> Market:
    return market_add(actor=Actor.system(), name=name, location=str(root))


def catalogue(market: Market) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for app, version, digest in AppVersion.objects.filter(app__market=market).values_list(
        "app__name", "version", "digest"
    ):
        rows.setdefault(app, {})[version] = digest
    return rows


def test_chunks_store_every_app_and_report_in_name_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "SYNC_CHUNK", 2)
    disk = DiskMarket(tmp_path / "disk")
    expected: dict[str, dict[str, str]] = {}
    for number in range(7):
        name = f"app-{number}"
        for version in ("1.0.0", "1.1.0"):
            expected.setdefault(name, {})[version] = disk.publish(name, version)
    # app-2 lists an entry that breaks format 1; app-5's index no longer matches.
    index = disk.index("app-2")
    assert index is not None
    index["versions"]["1.1.0"]["size"] = 0
    disk.write_index("app-2", index)
    del expected["app-2"]["1.1.0"]
    disk.index_path("app-5").write_bytes(b'{"tampered": true}')
    del expected["app-5"]
    mirror = subscribe(disk.root)

    report = market_sync(market=mirror)

    assert report.added == ["app-0", "app-1", "app-2", "app-3", "app-4", "app-6"]
    assert [(s["app"], s["reason"].split(": ", 1)[1][:12]) for s in report.skipped] == [
        ("app-2", "size must be"),
        ("app-5", "index.json d"),
    ]
    assert report.requests == 1 + 7
    assert catalogue(mirror) == expected
    assert App.objects.get(market=mirror, name="app-2").latest == "1.0.0"
    mirror.refresh_from_db()
    assert mirror.serial == disk.doc["serial"]


def test_a_cold_sync_costs_the_same_queries_for_ten_apps_as_for_forty(tmp_path: Path) -> None:
    counts = []
    for apps in (10, 40):
        disk = DiskMarket(tmp_path / f"disk-{apps}")
        for number in range(apps):
            for version in ("1.0.0", "1.1.0", "2.0.0"):
                disk.publish(f"app-{number}", version)
        mirror = subscribe(disk.root, f"mirror-{apps}")
        with CaptureQueriesContext(connection) as queries:
            report = market_sync(market=mirror)
        assert len(report.added) == apps
        assert AppVersion.objects.filter(app__market=mirror).count() == apps * 3
        counts.append(len(queries))

    assert counts[0] == counts[1]


def test_a_resync_replaces_only_what_changed_and_keeps_app_details(tmp_path: Path) -> None:
    disk = DiskMarket(tmp_path / "disk")
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        disk.publish("redis-ops", version)
    disk.publish("log-collector", "1.0.0")
    mirror = subscribe(disk.root)
    market_sync(market=mirror)
    App.objects.filter(market=mirror, name="redis-ops").update(
        readme="# kept", details_digest="sha256:kept"
    )
    rows = dict(
        AppVersion.objects.filter(app__market=mirror, app__name="redis-ops").values_list(
            "version", "pk"
        )
    )

    changed = disk.publish("redis-ops", "1.1.0", content="rebuilt")
    disk.unpublish("redis-ops", "1.2.0")
    added = disk.publish("redis-ops", "2.0.0")
    report = market_sync(market=mirror)

    assert (report.added, report.updated, report.skipped) == ([], ["redis-ops"], [])
    assert report.requests == 2
    app = App.objects.get(market=mirror, name="redis-ops")
    assert (app.latest, app.readme, app.details_digest) == ("2.0.0", "# kept", "sha256:kept")
    now = dict(app.versions.values_list("version", "pk"))
    assert sorted(now) == ["1.0.0", "1.1.0", "2.0.0"]
    assert now["1.0.0"] == rows["1.0.0"]  # untouched
    assert now["1.1.0"] != rows["1.1.0"]
    assert app.versions.get(version="1.1.0").digest == changed
    assert app.versions.get(version="2.0.0").digest == added
    assert app.index_digest == disk.doc["apps"]["redis-ops"]["index_digest"]


def test_a_storage_failure_midway_stops_the_sync_and_the_next_one_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "SYNC_CHUNK", 2)
    disk = DiskMarket(tmp_path / "disk")
    for number in range(6):
        disk.publish(f"app-{number}", "1.0.0")
    mirror = subscribe(disk.root)
    real_get = LocalStorage._get

    def failing_get(self: LocalStorage, key: str) -> Any:
        if key == "apps/app-4/index.json":
            raise TransientStorageError("GET apps/app-4/index.json: server answered 503")
        return real_get(self, key)

    monkeypatch.setattr(LocalStorage, "_get", failing_get)
    with pytest.raises(TransientStorageError):
        market_sync(market=mirror)
    monkeypatch.undo()

    mirror.refresh_from_db()
    assert (mirror.etag, mirror.serial) == ("", 0)  # so the next sync starts over
    assert not App.objects.filter(market=mirror, name="app-4").exists()
    report = market_sync(market=mirror)
    assert sorted(catalogue(mirror)) == [f"app-{number}" for number in range(6)]
    assert "app-4" in report.added
    mirror.refresh_from_db()
    assert mirror.serial == disk.doc["serial"]
