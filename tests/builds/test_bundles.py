"""Offline bundles: export apps with their dependency closure from one market, carry
the file across an air gap, register it as a market with no network, fetch and
verify every package."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from builds.services.bundles import bundle_import, bundle_resolve
from market.models import AppVersion, Market
from market.package import read_package
from market.services.fetch import package_fetch
from market.services.markets import market_add
from market.services.publish import package_publish
from market.services.sync import market_sync
from portal.actors import Actor
from portal.models import AuditEvent
from portal.services.errors import Forbidden, Invalid
from tests.builds.helpers import regular, tar_with
from tests.factories import PASSWORD, make_user
from tests.market.helpers import demo_archive, local_market

pytestmark = pytest.mark.django_db

# log-analyzer 1.4.2 needs redis-ops >=1.2.0 <2.0.0 and log-collector ^1.0.0;
# slo-tracker 1.1.0 needs prometheus-exporter-kit ^2.1.0 and alert-router ^1.0.0,
# which needs prometheus-exporter-kit ^2.1.0 too.
CLOSURE = {
    ("log-analyzer", "1.4.2"),
    ("redis-ops", "1.3.0"),
    ("log-collector", "1.2.0"),
    ("slo-tracker", "1.1.0"),
    ("alert-router", "1.0.0"),
    ("prometheus-exporter-kit", "2.2.0"),
}


def export(market: str, *apps: str, out: Path) -> list[str]:
    stdout = io.StringIO()
    call_command("market_export", market, *apps, "-o", str(out), stdout=stdout)
    return stdout.getvalue().splitlines()


def test_round_trip_through_the_ui_importer_with_the_network_blocked(
    tmp_path: Path, source_market: Market, staff_user: Any, offline: list[Any], settings: Any
) -> None:
    bundle = tmp_path / "offline.tgz"
    printed = export("main", "log-analyzer@^1.4.0", "slo-tracker", out=bundle)
    assert {tuple(line.split()) for line in printed if line.startswith("  ")} == CLOSURE
    assert printed[-2] == str(bundle) and printed[-1].startswith("sha256:")

    # The far side: its own package cache, nothing fetched before.
    settings.PACKAGE_CACHE_DIR = tmp_path / "far-cache"
    client = Client()
    client.login(username=staff_user.username, password="correct-horse-battery-staple")
    with bundle.open("rb") as handle:
        response = client.post("/builds/bundles/import/", {"name": "offline", "bundle": handle})

    assert response.status_code == 302, response.content.decode()[-2000:]
    market = Market.objects.get(name="offline")
    rows = AppVersion.objects.filter(app__market=market).select_related("app")
    assert {(r.app.name, r.version) for r in rows} == CLOSURE
    for row in rows:
        data = package_fetch(version=row)
        package = read_package(data, filename=row.archive)
        assert package.digest == row.digest
        assert (package.manifest.name, package.manifest.version) == (row.app.name, row.version)
    assert offline == []  # and nothing even tried to go out
    assert AuditEvent.objects.filter(action="bundle.import", target_id=str(market.pk)).exists()


def test_the_extracted_folder_is_a_market_for_market_add(
    tmp_path: Path, source_market: Market, offline: list[Any], settings: Any
) -> None:
    bundle = tmp_path / "offline.tgz"
    export("main", "log-analyzer", out=bundle)
    folder = tmp_path / "extracted"
    with tarfile.open(bundle) as tar:
        tar.extractall(folder, filter="data")
    settings.PACKAGE_CACHE_DIR = tmp_path / "far-cache"

    market = market_add(actor=Actor.system(), name="far", location=str(folder))
    market_sync(market=market)

    rows = AppVersion.objects.filter(app__market=market).select_related("app")
    assert {(r.app.name, r.version) for r in rows} == {
        ("log-analyzer", "1.4.2"),
        ("redis-ops", "1.3.0"),
        ("log-collector", "1.2.0"),
    }
    for row in rows:
        assert read_package(package_fetch(version=row)).digest == row.digest


def test_unresolvable_dependencies_are_refused_clearly(tmp_path: Path) -> None:
    market = local_market(tmp_path, "thin")
    filename, data = demo_archive(tmp_path, "log-analyzer", "1.4.2")
    package_publish(actor=Actor.system(), market=market, data=data, filename=filename)
    filename, data = demo_archive(tmp_path, "redis-ops", "2.0.0")
    package_publish(actor=Actor.system(), market=market, data=data, filename=filename)
    market_sync(market=market)

    with pytest.raises(Invalid) as caught:
        bundle_resolve(market=market, requests=["log-analyzer"])
    assert caught.value.message == (
        "log-analyzer 1.4.2 needs redis-ops >=1.2.0 <2.0.0: no version in market thin satisfies it"
    )
    with pytest.raises(CommandError, match="no app nope in market thin") as command:
        export("thin", "nope", out=tmp_path / "x.tgz")
    assert command.value.returncode == 1
    with pytest.raises(CommandError, match="no version in market thin satisfies it"):
        export("thin", "redis-ops@^3.0.0", out=tmp_path / "x.tgz")
    assert not (tmp_path / "x.tgz").exists()


def _bundle_bytes(tmp_path: Path, market: str, *apps: str) -> bytes:
    out = tmp_path / f"{market}-{len(apps)}.tgz"
    export(market, *apps, out=out)
    return out.read_bytes()


def _retar(data: bytes, change: Any) -> bytes:
    """The bundle with its members passed through ``change(name, bytes) -> bytes``."""
    members = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            extracted = tar.extractfile(member)
            assert extracted is not None
            members.append(regular(member.name, change(member.name, extracted.read())))
    return tar_with(members)


def test_a_tampered_bundle_is_refused_and_nothing_is_left(
    tmp_path: Path, source_market: Market, staff_user: Any, settings: Any
) -> None:
    data = _bundle_bytes(tmp_path, "main", "redis-ops@1.2.0")
    tampered = _retar(data, lambda name, body: body + b"x" if name.endswith(".tgz") else body)

    with pytest.raises(Invalid, match=r"redis-ops 1\.2\.0: size differs from its index\.json"):
        bundle_import(actor=Actor(user=staff_user), name="bad", data=tampered)

    assert not Market.objects.filter(name="bad").exists()
    assert list((settings.MARKETS_DIR / "bundles").iterdir()) == []


def test_hostile_bundle_archives_are_refused(staff_user: Any, settings: Any) -> None:
    link = tarfile.TarInfo("market.json")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    for data, reason in [
        (tar_with([(link, None)]), "is a symbolic link"),
        (tar_with([regular("../escape.json", b"{}")]), "path contains .."),
        (tar_with([regular("apps/x/index.json", b"{}")]), "market.json is missing"),
    ]:
        with pytest.raises(Invalid, match=reason):
            bundle_import(actor=Actor(user=staff_user), name="bad", data=data)
    assert not Market.objects.filter(name="bad").exists()
    assert list((settings.MARKETS_DIR / "bundles").iterdir()) == []


def test_only_staff_import(tmp_path: Path, source_market: Market) -> None:
    user = make_user("olga")
    with pytest.raises(Forbidden):
        bundle_import(actor=Actor(user=user), name="x", data=b"")
    client = Client()
    client.login(username="olga", password=PASSWORD)
    assert client.post("/builds/bundles/import/", {"name": "x"}).status_code == 403
    # The app page's "Offline bundle" button lands on the export form filled in.
    app_page = client.get("/market/main/redis-ops/").content.decode()
    assert "/builds/bundles/?market=main&amp;apps=redis-ops" in app_page
    form = client.get("/builds/bundles/?market=main&apps=redis-ops").content.decode()
    assert 'value="main" selected' in form and "redis-ops</textarea>" in form
    # Exporting is open to anyone signed in: the catalogue is.
    response = client.post("/builds/bundles/", {"market": "main", "apps": "redis-ops@~1.2.0"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(b"".join(response.streaming_content))) as tar:  # type: ignore[attr-defined]
        assert sorted(tar.getnames()) == [
            "apps/redis-ops/index.json",
            "apps/redis-ops/redis-ops-1.2.0.tgz",
            "market.json",
        ]


def test_yanks_and_advisories_travel_with_the_bundle(
    tmp_path: Path, source_market: Market, offline: list[Any], settings: Any
) -> None:
    from market.models import App
    from market.services.yank import advisory_add, version_yank

    advisory = {
        "id": "OMSA-9",
        "severity": "moderate",
        "affected": "<1.5.0",
        "fixed": "",
        "summary": "Slow regex on long lines.",
    }
    version_yank(
        actor=Actor.system(), market=source_market, app="redis-ops", version="1.3.0", reason="r"
    )
    version_yank(
        actor=Actor.system(), market=source_market, app="log-analyzer", version="1.3.0", reason="x"
    )
    advisory_add(actor=Actor.system(), market=source_market, app="log-analyzer", advisory=advisory)
    bundle = tmp_path / "offline.tgz"
    # A dependency range skips the yanked redis-ops 1.3.0; an exact version asked for
    # is bundled yanked.
    export("main", "log-analyzer@1.3.0", out=bundle)
    folder = tmp_path / "extracted"
    with tarfile.open(bundle) as tar:
        tar.extractall(folder, filter="data")
    settings.PACKAGE_CACHE_DIR = tmp_path / "far-cache"

    market = market_add(actor=Actor.system(), name="far", location=str(folder))
    market_sync(market=market)

    rows = {
        (r.app.name, r.version): r.yanked
        for r in AppVersion.objects.filter(app__market=market).select_related("app")
    }
    assert rows[("log-analyzer", "1.3.0")] == "x"
    assert ("redis-ops", "1.2.0") in rows and ("redis-ops", "1.3.0") not in rows
    assert App.objects.get(market=market, name="log-analyzer").advisories == [advisory]
