"""Publishing into a local market and syncing it into the catalogue."""

from __future__ import annotations

import json

import pytest

from market.index import VersionConflict
from market.models import App, AppVersion
from market.package import PackageRefused
from market.services.markets import market_add
from market.services.publish import package_publish
from market.services.sync import SyncRefused, market_sync
from portal.actors import Actor
from portal.models import AuditEvent
from tests.market.helpers import demo_archive, local_market

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_package_cache(settings, tmp_path):
    # The default cache folder is shared by every test (and every run): an archive
    # cached by another test would be returned without reading the tampered one.
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"


def publish(market, tmp_path, name, version):
    filename, data = demo_archive(tmp_path, name, version)
    return package_publish(actor=Actor.system(), market=market, data=data, filename=filename)


def test_publish_writes_archive_index_and_market_json(tmp_path):
    market = local_market(tmp_path)
    result = publish(market, tmp_path, "redis-ops", "1.2.0")

    root = tmp_path / "market-main"
    doc = json.loads((root / "market.json").read_text())
    index_bytes = (root / "apps/redis-ops/index.json").read_bytes()
    index = json.loads(index_bytes)
    assert result.created is True
    assert (root / "apps/redis-ops/redis-ops-1.2.0.tgz").is_file()
    assert doc["serial"] == 1
    assert doc["apps"]["redis-ops"]["latest"] == "1.2.0"
    assert index["versions"]["1.2.0"]["digest"] == result.digest
    import hashlib

    assert doc["apps"]["redis-ops"]["index_digest"] == hashlib.sha256(index_bytes).hexdigest()
    assert AuditEvent.objects.filter(action="package.publish").count() == 1


def test_republishing_the_same_archive_changes_nothing(tmp_path):
    market = local_market(tmp_path)
    publish(market, tmp_path, "redis-ops", "1.2.0")
    before = (tmp_path / "market-main/market.json").read_bytes()

    again = publish(market, tmp_path, "redis-ops", "1.2.0")

    assert again.created is False
    assert (tmp_path / "market-main/market.json").read_bytes() == before


def test_same_version_with_other_content_is_a_conflict_and_changes_nothing(tmp_path):
    market = local_market(tmp_path)
    publish(market, tmp_path, "redis-ops", "1.2.0")
    root = tmp_path / "market-main"
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    # Same name and version, other content: rebuild 1.3.0's files under 1.2.0.
    import shutil

    from market.package import build_package
    from tests.market.helpers import DEMO_APPS

    source = tmp_path / "src" / "redis-ops"
    shutil.copytree(DEMO_APPS / "redis-ops" / "1.2.0", source)
    (source / "README.md").write_text("# Different content\n")
    other = build_package(source, out_dir=tmp_path / "other").path

    with pytest.raises(VersionConflict):
        package_publish(
            actor=Actor.system(), market=market, data=other.read_bytes(), filename=other.name
        )
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before


def test_a_refused_package_writes_nothing(tmp_path):
    market = local_market(tmp_path)
    root = tmp_path / "market-main"
    before = sorted(p.relative_to(root) for p in root.rglob("*"))

    with pytest.raises(PackageRefused):
        package_publish(
            actor=Actor.system(), market=market, data=b"not a gzip", filename="x-1.0.0.tgz"
        )
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert not AuditEvent.objects.filter(action="package.publish").exists()


def test_sync_adds_updates_removes_and_costs_what_changed(tmp_path):
    source = local_market(tmp_path, "upstream")
    publish(source, tmp_path, "redis-ops", "1.2.0")
    publish(source, tmp_path, "log-collector", "1.0.0")
    mirror = market_add(
        actor=Actor.system(), name="mirror", location=str(tmp_path / "market-upstream")
    )

    cold = market_sync(market=mirror)
    unchanged = market_sync(market=mirror)
    publish(source, tmp_path, "redis-ops", "1.3.0")
    one_new = market_sync(market=mirror)

    assert sorted(cold.added) == ["log-collector", "redis-ops"]
    assert cold.requests == 3  # market.json + two index.json
    assert unchanged.unchanged and unchanged.requests == 1
    assert one_new.updated == ["redis-ops"] and one_new.requests == 2
    app = App.objects.get(market=mirror, name="redis-ops")
    assert app.latest == "1.3.0"
    assert sorted(app.versions.values_list("version", flat=True)) == ["1.2.0", "1.3.0"]


def test_sync_refuses_a_lower_serial_and_keeps_the_catalogue(tmp_path):
    source = local_market(tmp_path, "upstream")
    publish(source, tmp_path, "redis-ops", "1.2.0")
    publish(source, tmp_path, "redis-ops", "1.3.0")
    mirror = market_add(
        actor=Actor.system(), name="mirror", location=str(tmp_path / "market-upstream")
    )
    market_sync(market=mirror)
    path = tmp_path / "market-upstream/market.json"
    doc = json.loads(path.read_text())
    doc["serial"] = 1
    doc["apps"] = {}
    path.write_text(json.dumps(doc))

    with pytest.raises(SyncRefused):
        market_sync(market=mirror)
    assert App.objects.filter(market=mirror, name="redis-ops").exists()
    mirror.refresh_from_db()
    assert mirror.serial == 2


def test_one_malformed_entry_is_skipped_and_the_rest_sync(tmp_path):
    source = local_market(tmp_path, "upstream")
    publish(source, tmp_path, "redis-ops", "1.2.0")
    publish(source, tmp_path, "log-collector", "1.0.0")
    root = tmp_path / "market-upstream"
    # Tamper with one index: its digest no longer matches market.json.
    index = root / "apps/log-collector/index.json"
    index.write_bytes(index.read_bytes().replace(b'"1.0.0"', b'"1.0.0" ', 1))
    mirror = market_add(actor=Actor.system(), name="mirror", location=str(root))

    report = market_sync(market=mirror)

    assert report.added == ["redis-ops"]
    assert [s["app"] for s in report.skipped] == ["log-collector"]
    assert "index_digest" in report.skipped[0]["reason"]
    assert not App.objects.filter(market=mirror, name="log-collector").exists()


def test_remote_entry_with_wrong_archive_digest_is_refused_on_fetch(tmp_path):
    from market.services.fetch import ArchiveMismatch, package_fetch

    source = local_market(tmp_path, "upstream")
    publish(source, tmp_path, "redis-ops", "1.2.0")
    market_sync(market=source)
    version = AppVersion.objects.get(app__market=source, app__name="redis-ops")
    archive = tmp_path / "market-upstream/apps/redis-ops/redis-ops-1.2.0.tgz"
    data = bytearray(archive.read_bytes())
    data[-1] ^= 0xFF
    archive.write_bytes(bytes(data))

    with pytest.raises(ArchiveMismatch):
        package_fetch(version=version)
