"""`/markets/<name>/...`: the portal serves the markets it holds in the format-1
layout, with strong validators and cache headers, so that another platform (or a
CDN) can subscribe to it -- and one does, over real HTTP, at the end."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from market.models import App, Market
from market.services.sync import market_sync
from tests.factories import make_token, make_user
from tests.market.api_helpers import (
    publish_small,
    queued_tasks_fixture,  # noqa: F401 - the queued_tasks fixture
    run_command,
)
from tests.market.helpers import local_market

pytestmark = pytest.mark.usefixtures("queued_tasks")

JSON_CACHE = "public, max-age=30, must-revalidate"
ARCHIVE_CACHE = "public, max-age=31536000, immutable"


def strong_etag(data: bytes, suffix: str = "") -> str:
    return f'"{hashlib.sha256(data).hexdigest()}{suffix}"'


def fill(market: Market, apps: int = 6) -> None:
    """Enough apps that market.json is past the gzip threshold (1 KiB)."""
    for index in range(apps):
        publish_small(market, f"app-{index}", "1.0.0", keywords=["served", f"k{index}"])
    publish_small(market, "app-0", "1.1.0", keywords=["served"])


@pytest.fixture
def served(db: None, tmp_path: Path) -> Path:
    """The root folder of market `main`, published into and held by this portal."""
    fill(local_market(tmp_path, "main"))
    return tmp_path / "market-main"


def test_market_json_has_a_strong_etag_and_revalidates_to_304(served: Path) -> None:
    client = Client()
    stored = (served / "market.json").read_bytes()

    first = client.get("/markets/main/market.json")
    again = client.get("/markets/main/market.json", HTTP_IF_NONE_MATCH=first["ETag"])
    listed = client.get("/markets/main/market.json", HTTP_IF_NONE_MATCH=f'"other", {first["ETag"]}')
    stale = client.get("/markets/main/market.json", HTTP_IF_NONE_MATCH='"something-else"')

    assert first.status_code == 200
    assert first.content == stored
    assert first["Content-Type"] == "application/json"
    assert first["ETag"] == strong_etag(stored)  # strong: no W/ prefix
    assert first["Cache-Control"] == JSON_CACHE
    assert "Accept-Encoding" in first["Vary"]
    assert "Content-Encoding" not in first
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == JSON_CACHE
    assert listed.status_code == 304
    assert stale.status_code == 200 and stale.content == stored


def test_a_change_gives_a_new_etag(served: Path) -> None:
    client = Client()
    before = client.get("/markets/main/market.json")["ETag"]
    publish_small(Market.objects.get(name="main"), "app-new", "1.0.0")

    after = client.get("/markets/main/market.json", HTTP_IF_NONE_MATCH=before)

    assert after.status_code == 200
    assert after["ETag"] != before
    assert "app-new" in json.loads(after.content)["apps"]


def test_gzip_is_its_own_representation_with_its_own_etag(served: Path) -> None:
    client = Client()
    stored = (served / "market.json").read_bytes()
    assert len(stored) > 1024

    zipped = client.get("/markets/main/market.json", HTTP_ACCEPT_ENCODING="gzip, deflate")
    revalidated = client.get(
        "/markets/main/market.json",
        HTTP_ACCEPT_ENCODING="gzip",
        HTTP_IF_NONE_MATCH=zipped["ETag"],
    )
    # The gzip ETag does not validate the identity body, and the other way round.
    identity = client.get("/markets/main/market.json", HTTP_IF_NONE_MATCH=zipped["ETag"])

    assert zipped.status_code == 200
    assert zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content) == stored
    assert int(zipped["Content-Length"]) == len(zipped.content) < len(stored)
    assert zipped["ETag"] == strong_etag(stored, "-gz")
    assert zipped["ETag"] != strong_etag(stored)
    assert "Accept-Encoding" in zipped["Vary"]
    assert revalidated.status_code == 304
    assert identity.status_code == 200 and identity.content == stored


def test_small_documents_and_archives_are_never_gzipped(served: Path) -> None:
    client = Client()
    archive = served / "apps/app-1/app-1-1.0.0.tgz"

    response = client.get("/markets/main/apps/app-1/app-1-1.0.0.tgz", HTTP_ACCEPT_ENCODING="gzip")

    assert "Content-Encoding" not in response
    assert response.content == archive.read_bytes()


def test_index_and_archives_are_served_with_their_cache_policy(served: Path) -> None:
    client = Client()
    index = (served / "apps/app-0/index.json").read_bytes()
    archive = (served / "apps/app-0/app-0-1.1.0.tgz").read_bytes()

    index_response = client.get("/markets/main/apps/app-0/index.json")
    archive_response = client.get("/markets/main/apps/app-0/app-0-1.1.0.tgz")
    archive_again = client.get(
        "/markets/main/apps/app-0/app-0-1.1.0.tgz", HTTP_IF_NONE_MATCH=archive_response["ETag"]
    )

    assert index_response.content == index
    assert index_response["Cache-Control"] == JSON_CACHE
    assert archive_response.status_code == 200
    assert archive_response.content == archive
    assert archive_response["Content-Type"] == "application/gzip"
    assert archive_response["Cache-Control"] == ARCHIVE_CACHE
    assert archive_response["ETag"] == strong_etag(archive)
    assert archive_again.status_code == 304


def test_head_answers_without_a_body(served: Path) -> None:
    response = Client().head("/markets/main/market.json")

    assert response.status_code == 200
    assert response.content == b""
    assert response["ETag"] == strong_etag((served / "market.json").read_bytes())


def test_only_reads_are_allowed(served: Path) -> None:
    client = Client(enforce_csrf_checks=False)

    assert client.post("/markets/main/market.json").status_code == 405
    assert client.put("/markets/main/apps/x/x-1.0.0.tgz", b"x").status_code == 405
    assert client.delete("/markets/main/market.json").status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/markets/main/../../etc/passwd",
        "/markets/main/apps/app-0/../../market.json",
        "/markets/main/apps/app-0/%2e%2e/%2e%2e/market.json",
        "/markets/main/apps/..%2f..%2fmarket.json",
        "/markets/main//etc/passwd",
        "/markets/main/apps/app-0//index.json",
        "/markets/main/apps/app-0/index.json/",
        "/markets/main/apps/app-0/",
        "/markets/main/apps/app-0/app-1-1.0.0.tgz",  # another app's archive name
        "/markets/main/apps/app-0/app-0-9.9.9.tgz",  # no such version
        "/markets/main/apps/app-0/app-0-1.0.0.tgz.bak",
        "/markets/main/apps/no-such-app/index.json",
        "/markets/main/apps/App-0/index.json",
        "/markets/main/.probe/x/create-only",
        "/markets/main/market.json.tmp",
        "/markets/main/",
        "/markets/nowhere/market.json",
        "/markets/MAIN/market.json",
    ],
)
def test_bad_paths_are_404(served: Path, path: str) -> None:
    response = Client().get(path)

    assert response.status_code == 404


def test_a_nul_in_the_path_is_400_and_serves_nothing(served: Path) -> None:
    response = Client().get("/markets/main/apps/app-0/index.json%00")

    assert response.status_code == 400
    assert b"NUL" in response.content


def test_storage_that_cannot_be_read_is_503(db: None) -> None:
    # A held market whose storage refuses (here: the network guard, no allow flag).
    Market.objects.create(name="proxied", location="http://127.0.0.1:9/")

    response = Client().get("/markets/proxied/market.json")

    assert response.status_code == 503
    assert b"127.0.0.1" not in response.content


# ------------------------------------------------------------------ private markets


@pytest.fixture
def private(served: Path) -> Market:
    market = Market.objects.get(name="main")
    market.is_private = True
    market.save(update_fields=["is_private"])
    return market


def test_a_private_market_needs_a_token(private: Market) -> None:
    response = Client().get("/markets/main/market.json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="market"'
    assert b"apps" not in response.content


def test_a_private_market_refuses_a_wrong_token(private: Market) -> None:
    response = Client().get(
        "/markets/main/market.json", HTTP_AUTHORIZATION="Bearer omk_not-a-token"
    )

    assert response.status_code == 401


def test_a_private_market_serves_a_bearer_token_holder(served: Path, private: Market) -> None:
    token = make_token(make_user("reader"))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    document = client.get("/markets/main/market.json")
    archive = client.get("/markets/main/apps/app-0/app-0-1.0.0.tgz")

    assert document.status_code == 200
    assert document.content == (served / "market.json").read_bytes()
    assert document["Cache-Control"] == "private, max-age=30, must-revalidate"
    assert "Authorization" in document["Vary"]
    assert archive["Cache-Control"] == "private, max-age=31536000, immutable"


def test_a_private_market_serves_a_logged_in_user(private: Market) -> None:
    client = Client()
    client.force_login(make_user("browser-user"))

    assert client.get("/markets/main/market.json").status_code == 200


# ------------------------------------------------------------------ another portal subscribes


@pytest.mark.django_db(transaction=True)
def test_another_portal_subscribes_over_http(live_server: Any, tmp_path: Path) -> None:
    fill(local_market(tmp_path, "main"))
    location = f"{live_server.url}/markets/main/"

    refused = run_command("market_add", "upstream", location)
    added = run_command("market_add", "upstream", location, allow_private_network=True)
    subscriber = Market.objects.get(name="upstream")
    cold = market_sync(market=subscriber)
    unchanged = run_command("market_sync", "upstream")
    publish_small(Market.objects.get(name="main"), "app-3", "2.0.0")
    one_new = market_sync(market=subscriber)
    after = market_sync(market=subscriber)

    assert refused.status == 1 and "a loopback address" in refused.stderr
    assert added.status == 0, added.stderr
    assert cold.added == [f"app-{index}" for index in range(6)]
    assert cold.skipped == []
    assert cold.requests == 7  # market.json and six index.json
    assert unchanged.stdout.strip() == "upstream: unchanged (1 requests)"
    assert one_new.updated == ["app-3"] and one_new.requests == 2
    assert after.unchanged and after.requests == 1
    assert App.objects.get(market=subscriber, name="app-3").latest == "2.0.0"
    assert sorted(
        App.objects.get(market=subscriber, name="app-0").versions.values_list("version", flat=True)
    ) == ["1.0.0", "1.1.0"]


@pytest.mark.django_db(transaction=True)
def test_another_portal_subscribes_to_a_private_market_with_a_token(
    live_server: Any, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from market.services.fetch import package_fetch

    settings.PACKAGE_CACHE_DIR = tmp_path / "cache"
    main = local_market(tmp_path, "main")
    fill(main)
    Market.objects.filter(pk=main.pk).update(is_private=True)
    location = f"{live_server.url}/markets/main/"
    monkeypatch.setenv("UPSTREAM_TOKEN", make_token(make_user("robot")))

    anonymous = run_command("market_add", "anonymous", location, allow_private_network=True)
    added = run_command(
        "market_add", "upstream", location, allow_private_network=True, token_env="UPSTREAM_TOKEN"
    )
    subscriber = Market.objects.get(name="upstream")
    report = market_sync(market=subscriber)
    again = market_sync(market=subscriber)
    version = App.objects.get(market=subscriber, name="app-2").versions.get()

    assert anonymous.status == 1 and "denied (401)" in anonymous.stderr
    assert added.status == 0, added.stderr
    assert len(report.added) == 6
    assert again.unchanged and again.requests == 1
    stored = tmp_path / "market-main" / "apps" / "app-2" / "app-2-1.0.0.tgz"
    assert package_fetch(version=version) == stored.read_bytes()


@pytest.mark.parametrize(
    ("accept", "zipped"),
    [
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("x-gzip", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, identity", False),
        ("identity", False),
        ("deflate, br", False),
        ("", False),
    ],
)
def test_gzip_only_when_the_client_accepts_it(served: Path, accept: str, zipped: bool) -> None:
    response = Client().get("/markets/main/market.json", HTTP_ACCEPT_ENCODING=accept)

    assert (response.get("Content-Encoding") == "gzip") is zipped


def test_a_weakened_validator_from_a_cache_still_revalidates(served: Path) -> None:
    client = Client()
    etag = client.get("/markets/main/market.json")["ETag"]

    response = client.get("/markets/main/market.json", HTTP_IF_NONE_MATCH=f"W/{etag}")

    assert response.status_code == 304
