"""Subscribing to markets on other hosts (SPEC section 3): a static HTTP server on
loopback and an S3 endpoint. Hostile or broken remotes are refused or skipped and
reported, never taken into the catalogue; no traffic leaves loopback."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

from market.models import App, AppVersion, Market, SyncJob
from market.services import fetch as fetch_module
from market.services.fetch import ArchiveMismatch, package_fetch
from market.services.markets import MarketRefused, market_add, market_init
from market.services.sync import SyncRefused, market_sync
from market.storage.base import UnsafeLocation
from market.storage.cas import dump_json as dumps
from market.tasks import app_details_task, market_sync_task
from portal.actors import Actor
from tests.market.api_helpers import (
    publish_small,
    queued_tasks_fixture,  # noqa: F401 - the queued_tasks fixture
    run_command,
    small_package,
)
from tests.market.storage_fixtures import (
    MarketHTTPServer,
    bucket_keys,
    new_bucket,
    s3_credentials,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("queued_tasks", "loopback_only", "_package_cache"),
]

TOKEN = "omk_remote-market-token"


@pytest.fixture
def _package_cache(settings: Any, tmp_path: Path) -> None:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"


@pytest.fixture
def origin(http_market: MarketHTTPServer) -> Market:
    """A writable market whose folder the HTTP server serves: three apps, one with
    two versions."""
    market_init(location=str(http_market.root), name="origin")
    market = market_add(
        actor=Actor.system(), name="origin", location=str(http_market.root), writable=True
    )
    for name, version in (("app-a", "1.0.0"), ("app-b", "1.0.0"), ("app-b", "1.1.0")):
        publish_small(market, name, version)
    publish_small(market, "app-c", "0.1.0")
    return market


def subscribe(http_market: MarketHTTPServer, name: str = "remote", **kwargs: Any) -> Market:
    return market_add(
        actor=Actor.system(),
        name=name,
        location=http_market.url,
        allow_private_network=True,
        **kwargs,
    )


def rewrite_market_json(root: Path, change: Any) -> None:
    """Edit the served market.json as a (hostile) publisher could, raising its serial."""
    path = root / "market.json"
    doc = json.loads(path.read_bytes())
    change(doc)
    doc["serial"] += 1
    path.write_bytes(dumps(doc))


# ------------------------------------------------------------------ subscribing


def test_a_loopback_url_is_refused_without_the_flag_and_accepted_with_it(
    origin: Market, http_market: MarketHTTPServer
) -> None:
    with pytest.raises(MarketRefused) as refused:
        market_add(actor=Actor.system(), name="remote", location=http_market.url)

    assert str(refused.value) == (
        "refusing to connect to 127.0.0.1: 127.0.0.1 is a loopback address; "
        "a market inside your network needs the allow flag"
    )
    assert http_market.requests == []
    assert not Market.objects.filter(name="remote").exists()
    assert subscribe(http_market).allow_private_network


def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(
    origin: Market, http_market: MarketHTTPServer, fake_dns: dict[str, list[str]]
) -> None:
    fake_dns["market.intranet.example"] = ["10.1.2.3"]

    with pytest.raises(MarketRefused, match=r"10\.1\.2\.3 is a private address"):
        market_add(
            actor=Actor.system(),
            name="remote",
            location="http://market.intranet.example/",
        )


def test_a_name_rebound_to_loopback_after_subscribing_is_refused_at_sync(
    origin: Market, http_market: MarketHTTPServer, fake_dns: dict[str, list[str]]
) -> None:
    # Subscribed while the name pointed somewhere public; now it points inward.
    market = Market.objects.create(
        name="rebound", location=f"http://rebound.example:{http_market.port}/"
    )
    fake_dns["rebound.example"] = ["127.0.0.1"]

    with pytest.raises(UnsafeLocation, match=r"127\.0\.0\.1 is a loopback address"):
        market_sync(market=market)

    assert http_market.requests == []
    assert not market.apps.exists()


# ------------------------------------------------------------------ syncing


def test_sync_over_http_is_incremental(origin: Market, http_market: MarketHTTPServer) -> None:
    remote = subscribe(http_market)
    http_market.requests.clear()

    cold = market_sync(market=remote)
    unchanged = market_sync(market=remote)
    publish_small(origin, "app-c", "0.2.0")
    one = market_sync(market=remote)

    assert cold.added == ["app-a", "app-b", "app-c"] and cold.requests == 4
    assert unchanged.unchanged and unchanged.requests == 1
    assert one.updated == ["app-c"] and one.requests == 2
    assert [r.path for r in http_market.requests[-2:]] == [
        "/market.json",
        "/apps/app-c/index.json",
    ]
    # The unchanged sync was a conditional GET answered 304.
    conditional = http_market.requests[4]
    assert conditional.path == "/market.json" and conditional.headers.get("If-None-Match")
    assert (
        sorted(AppVersion.objects.filter(app__market=remote).values_list("version", flat=True))[-1]
        == "1.1.0"
    )


def test_an_index_that_does_not_match_its_digest_is_skipped_and_the_rest_syncs(
    origin: Market, http_market: MarketHTTPServer
) -> None:
    remote = subscribe(http_market)
    index = http_market.root / "apps/app-b/index.json"
    index.write_bytes(index.read_bytes().replace(b'"1.1.0"', b'"1.1.0" ', 1))

    report = market_sync(market=remote)

    assert report.added == ["app-a", "app-c"]
    assert report.skipped == [
        {"app": "app-b", "reason": "app-b: index.json does not match its index_digest"}
    ]
    assert not App.objects.filter(market=remote, name="app-b").exists()
    remote.refresh_from_db()
    assert remote.last_sync_report["skipped"] == report.skipped

    # Once the publisher repairs it (a new publish rewrites the index), it syncs.
    publish_small(origin, "app-b", "1.2.0")
    repaired = market_sync(market=remote)
    assert repaired.added == ["app-b"] and repaired.skipped == []


def test_a_version_entry_with_a_bad_digest_is_skipped_and_its_siblings_kept(
    origin: Market, http_market: MarketHTTPServer
) -> None:
    remote = subscribe(http_market)
    index_path = http_market.root / "apps/app-b/index.json"
    index = json.loads(index_path.read_bytes())
    index["versions"]["1.1.0"]["digest"] = "md5:0123"
    index_path.write_bytes(dumps(index))

    def point_at_new_index(doc: dict[str, Any]) -> None:
        doc["apps"]["app-b"]["index_digest"] = hashlib.sha256(index_path.read_bytes()).hexdigest()

    rewrite_market_json(http_market.root, point_at_new_index)

    report = market_sync(market=remote)

    assert "app-b" in report.added
    assert report.skipped == [
        {"app": "app-b", "reason": "app-b 1.1.0: digest must be sha256:<hex>"}
    ]
    app = App.objects.get(market=remote, name="app-b")
    assert list(app.versions.values_list("version", flat=True)) == ["1.0.0"]
    assert app.latest == "1.0.0"


def test_an_archive_with_the_wrong_sha256_is_refused_on_fetch(
    origin: Market,
    http_market: MarketHTTPServer,
    queued_tasks: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Packages this process already read, by digest (other tests publish the same
    # bytes): verified bytes stay true, but this test is about reading storage.
    monkeypatch.setattr(fetch_module, "_read", OrderedDict())
    remote = subscribe(http_market)
    market_sync(market=remote)
    archive = http_market.root / "apps/app-a/app-a-1.0.0.tgz"
    _, other = small_package("app-a", "1.0.0", title="Swapped")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    archive.write_bytes(bytes(data))
    version = AppVersion.objects.get(app__market=remote, app__name="app-a")

    with pytest.raises(ArchiveMismatch, match="digest differs from the index"):
        package_fetch(version=version)
    archive.write_bytes(other)
    with pytest.raises(ArchiveMismatch):
        package_fetch(version=version)

    # The details task reads archives the same way: app-a keeps no README.
    app_details_task(list(remote.apps.values_list("pk", flat=True)))
    assert App.objects.get(market=remote, name="app-a").readme == ""
    assert App.objects.get(market=remote, name="app-c").readme.startswith("# app-c 0.1.0")


def test_a_rolled_back_serial_is_refused_and_the_catalogue_kept(
    origin: Market, http_market: MarketHTTPServer
) -> None:
    remote = subscribe(http_market)
    older = (http_market.root / "market.json").read_bytes()
    publish_small(origin, "app-d", "1.0.0")
    market_sync(market=remote)
    remote.refresh_from_db()
    seen_serial, seen_etag = remote.serial, remote.etag
    current = (http_market.root / "market.json").read_bytes()
    # A replayed (or maliciously served) older market.json: it drops app-d.
    (http_market.root / "market.json").write_bytes(older)

    with pytest.raises(SyncRefused, match=f"lower than {seen_serial} already seen"):
        market_sync(market=remote)

    remote.refresh_from_db()
    assert (remote.serial, remote.etag) == (seen_serial, seen_etag)
    assert App.objects.filter(market=remote, name="app-d").exists()

    # Through the worker the failure is recorded on the job and the market.
    job = SyncJob.objects.create(market=remote)
    market_sync_task(job.pk)
    job.refresh_from_db()
    remote.refresh_from_db()
    assert job.state == SyncJob.State.FAILED
    assert "SyncRefused" in job.error and "keeping the previous catalogue" in job.error
    assert remote.last_sync_error == job.error

    # The real document again is what was seen last; the next publish syncs.
    (http_market.root / "market.json").write_bytes(current)
    assert market_sync(market=remote).unchanged
    publish_small(origin, "app-e", "1.0.0")
    assert market_sync(market=remote).added == ["app-e"]


def test_a_sync_job_runs_through_the_worker_and_queues_the_details(
    origin: Market,
    http_market: MarketHTTPServer,
    queued_tasks: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    remote = subscribe(http_market)
    job = remote.sync_jobs.get()

    # The details task is sent on commit (portal.queue); this test's own
    # transaction never commits, so run the callbacks as a commit would.
    with django_capture_on_commit_callbacks(execute=True):
        market_sync_task(job.pk)
        market_sync_task(job.pk)  # a redelivered message finds the job done

    job.refresh_from_db()
    assert job.state == SyncJob.State.SUCCEEDED
    assert job.report["added"] == ["app-a", "app-b", "app-c"]
    details = [ids for kind, ids in queued_tasks if kind == "details"]
    assert len(details) == 1 and sorted(details[0]) == sorted(
        remote.apps.values_list("pk", flat=True)
    )
    app_details_task(details[0])
    assert App.objects.get(market=remote, name="app-b").readme.startswith("# app-b 1.1.0")


# ------------------------------------------------------------------ redirects and credentials


def _redirect(location: str) -> Any:
    def respond(handler: Any) -> None:
        handler.send(302, b"", {"Location": location})

    return respond


@pytest.mark.parametrize(
    "target",
    [
        "http://10.20.30.40/market.json",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://internal.example/market.json",
        "http://127.0.0.2:{port}/market.json",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_off_the_market_host_is_refused(
    origin: Market,
    http_market: MarketHTTPServer,
    fake_dns: dict[str, list[str]],
    loopback_only: list[str],
    target: str,
) -> None:
    remote = subscribe(http_market)
    market_sync(market=remote)
    fake_dns["internal.example"] = ["10.0.0.8"]
    publish_small(origin, "app-d", "1.0.0")
    http_market.routes["/market.json"] = _redirect(target.format(port=http_market.port))

    with pytest.raises(UnsafeLocation, match="refusing a redirect"):
        market_sync(market=remote)

    assert set(loopback_only) == {"127.0.0.1"}
    assert not App.objects.filter(market=remote, name="app-d").exists()


def test_a_redirect_on_the_same_host_is_followed(
    origin: Market, http_market: MarketHTTPServer
) -> None:
    remote = subscribe(http_market)
    (http_market.root / "moved").mkdir()
    shutil.copy(http_market.root / "market.json", http_market.root / "moved" / "market.json")
    http_market.routes["/market.json"] = _redirect("/moved/market.json")

    report = market_sync(market=remote)

    assert report.added == ["app-a", "app-b", "app-c"]
    assert report.requests == 5  # one more for the redirect hop


def test_credentials_go_only_to_the_market_host(
    origin: Market, http_market: MarketHTTPServer, tmp_path: Path
) -> None:
    other_root = tmp_path / "elsewhere"
    other_root.mkdir()
    elsewhere = MarketHTTPServer(other_root, host="127.0.0.2").start()
    try:
        remote = subscribe(http_market, credentials={"token": TOKEN})
        market_sync(market=remote)
        publish_small(origin, "app-c", "0.2.0")
        http_market.routes["/apps/app-c/index.json"] = _redirect(
            f"{elsewhere.url}apps/app-c/index.json"
        )

        with pytest.raises(UnsafeLocation, match="to another host"):
            market_sync(market=remote)
    finally:
        elsewhere.stop()

    assert elsewhere.requests == []
    assert http_market.requests
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in http_market.requests)


# ------------------------------------------------------------------ S3


def test_an_s3_market_end_to_end(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """market_add --writable on S3 (the probe passes), publish, and a second
    subscriber syncs it; unchanged, that costs one request."""
    bucket = new_bucket(moto_endpoint)
    location = f"s3://{bucket}/markets/team"
    for name, value in s3_credentials().items():
        monkeypatch.setenv(name.upper(), value)
    s3 = {"endpoint_url": moto_endpoint, "allow_private_network": True}
    filename, data = small_package("app-s3", "1.0.0")
    archive = tmp_path / filename
    archive.write_bytes(data)

    assert run_command("market_init", location, name="team", **s3).status == 0
    added = run_command("market_add", "team", location, writable=True, **s3)
    published = run_command("market_publish", str(archive), market="team")
    reader = run_command("market_add", "team-reader", location, **s3)
    first = run_command("market_sync", "team-reader")
    again = run_command("market_sync", "team-reader")

    assert added.status == 0, added.stderr
    assert published.status == 0, published.stderr
    assert reader.status == 0, reader.stderr
    assert bucket_keys(moto_endpoint, bucket) == [
        "markets/team/apps/app-s3/app-s3-1.0.0.tgz",
        "markets/team/apps/app-s3/index.json",
        "markets/team/market.json",
    ]
    assert "1 added" in first.stdout and "added app-s3" in first.stdout
    assert again.stdout.strip() == "team-reader: unchanged (1 requests)"
    version = AppVersion.objects.get(app__market__name="team-reader", app__name="app-s3")
    assert package_fetch(version=version) == data
