"""The demo market: built from market/demo/apps, published and synced by demo_load,
idempotent across runs, and shown in full by the catalogue."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from market.models import App, AppDoc, Market
from market.services.demo import DEMO_SOURCES, demo_market_load, demo_sources
from portal.actors import Actor
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def markets_dir(settings, tmp_path):
    settings.MARKETS_DIR = tmp_path / "markets"
    return settings.MARKETS_DIR


def copy_sources(tmp_path: Path, *folders: str) -> Path:
    root = tmp_path / "sources"
    for folder in folders:
        shutil.copytree(DEMO_SOURCES / folder, root / folder)
    return root


@pytest.mark.slow
def test_demo_load_publishes_every_demo_app_once(client, markets_dir):
    expected = {folder.parent.name for folder in demo_sources()}
    versions = len(demo_sources())
    assert len(expected) >= 10  # "about a dozen realistic ops apps"

    first = io.StringIO()
    call_command("demo_load", "--force", stdout=first)
    second = io.StringIO()
    call_command("demo_load", "--force", stdout=second)

    summary = re.compile(
        r"^demo market demo: (\d+) apps, (\d+) packages built, (\d+) published, (\d+) unchanged",
        re.MULTILINE,
    )
    first_run, second_run = (summary.search(out.getvalue()) for out in (first, second))
    assert first_run and second_run, first.getvalue() + second.getvalue()
    counts = [tuple(map(int, run.groups())) for run in (first_run, second_run)]
    # (apps, packages built, published, unchanged)
    assert counts[0] == (len(expected), versions, versions, 0)
    assert counts[1] == (len(expected), versions, 0, versions)
    assert "WARNING" not in first.getvalue() + second.getvalue()
    assert AuditEvent.objects.filter(action="package.publish").count() == versions

    market = Market.objects.get(name="demo")
    assert market.writable
    assert Path(market.location) == markets_dir / "demo"
    assert list(market.publishers.values_list("name", flat=True)) == ["platform-sre"]
    assert set(App.objects.filter(market=market).values_list("name", flat=True)) == expected
    # README, docs and icons are there at first start, without a worker.
    assert not App.objects.filter(market=market, readme="").exists()
    assert not App.objects.filter(market=market, icon_type="").exists()
    assert AppDoc.objects.filter(app__market=market).count() >= len(expected)

    client.force_login(_user())
    html = client.get("/market/?market=demo").content.decode()
    assert set(re.findall(r'data-app="([^"]+)"', html)) == expected


def _user():
    from tests.factories import make_user

    return make_user("viewer")


def test_a_changed_source_without_a_new_version_is_a_reported_conflict(tmp_path):
    sources = copy_sources(tmp_path, "redis-ops/1.2.0")
    first = demo_market_load(actor=Actor.cli(), sources=sources)
    assert first.published == ["redis-ops@1.2.0"]
    assert first.ok

    readme = sources / "redis-ops/1.2.0/README.md"
    readme.write_text(readme.read_text() + "\nEdited without a version bump.\n")
    again = demo_market_load(actor=Actor.cli(), sources=sources)

    assert again.published == []
    assert len(again.conflicts) == 1 and "redis-ops 1.2.0" in again.conflicts[0]
    assert not again.ok
    assert "1 conflicts" in again.summary()
    # The catalogue keeps what was published first.
    app = App.objects.get(market__name="demo", name="redis-ops")
    assert "Edited without a version bump" not in app.readme


def test_a_source_that_does_not_build_is_reported_and_the_others_still_load(tmp_path):
    sources = copy_sources(tmp_path, "redis-ops/1.2.0", "redis-ops/1.3.0")
    manifest = sources / "redis-ops/1.3.0/manifest.yaml"
    manifest.write_text(manifest.read_text().replace("schema: 1", "schema: 7"))

    report = demo_market_load(actor=Actor.cli(), sources=sources)

    assert report.published == ["redis-ops@1.2.0"]
    assert len(report.refused) == 1 and report.refused[0].startswith("redis-ops/1.3.0: ")
    assert App.objects.get(market__name="demo", name="redis-ops").latest == "1.2.0"


def test_the_demo_market_folder_surviving_a_database_reset_is_reused(tmp_path):
    sources = copy_sources(tmp_path, "redis-ops/1.2.0")
    demo_market_load(actor=Actor.cli(), sources=sources)
    Market.objects.all().delete()

    report = demo_market_load(actor=Actor.cli(), sources=sources)

    assert report.published == []
    assert report.unchanged == 1
    assert App.objects.filter(market__name="demo", name="redis-ops").exists()
