"""Signed markets through their entry points: the commands, the API, the add-market
form, and the app pages that say who signed the market an app comes from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from market.models import App, Market, SigningKey
from market.services.markets import market_add, market_init
from market.services.sync import market_sync
from portal.actors import Actor
from portal.models import AuditEvent, Team
from tests.factories import make_team
from tests.market.api_helpers import (
    publish_small,
    queued_tasks_fixture,  # noqa: F401 - the queued_tasks fixture
    run_command,
)
from tests.market.storage_fixtures import MarketHTTPServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_tasks", "loopback_only")]


@pytest.fixture
def team() -> Team:
    return make_team("platform-sre")


@pytest.fixture
def signed_origin(team: Team, http_market: MarketHTTPServer) -> Market:
    market_init(location=str(http_market.root), name="origin", sign_team=team)
    origin = market_add(
        actor=Actor.system(), name="origin", location=str(http_market.root), writable=True
    )
    publish_small(origin, "app-a", "1.0.0")
    return origin


# ------------------------------------------------------------------ commands


def test_the_commands_sign_pin_verify_rotate_and_resign(
    team: Team, http_market: MarketHTTPServer, tmp_path: Path
) -> None:
    root = http_market.root
    init = run_command("market_init", str(root), name="origin", sign=True, team="platform-sre")
    assert init.status == 0, init.stderr
    assert "signed by team platform-sre" in init.stdout and "--trust-root" in init.stdout
    run_command("market_add", "origin", str(root), writable=True)
    publish_small(Market.objects.get(name="origin"), "app-a", "1.0.0")
    pinned = tmp_path / "root.json"
    pinned.write_bytes((root / "root.json").read_bytes())

    added = run_command(
        "market_add", "sub", http_market.url, allow_private_network=True, trust_root=str(pinned)
    )
    synced = run_command("market_sync", "sub")
    new_key = run_command("signing_key_create", "platform-sre")
    rotated = run_command(
        "market_root_rotate", "origin", keyids=[new_key.stdout.strip()], retire_old=True
    )
    publish_small(Market.objects.get(name="origin"), "app-b", "1.0.0")
    after = run_command("market_sync", "sub")
    resigned = run_command("market_resign", "origin", force=True)

    assert added.status == 0 and "root version 1 pinned" in added.stdout
    assert synced.status == 0 and "added app-a" in synced.stdout
    assert rotated.status == 0, rotated.stderr
    assert "root.json version 2" in rotated.stdout
    assert after.status == 0 and "added app-b" in after.stdout
    assert resigned.status == 0 and resigned.stdout.strip() == (
        "origin: root.json and market.json signed again"
    )
    assert SigningKey.objects.filter(team=team, retired_at__isnull=True).count() == 1
    assert json.loads((root / "root.json").read_bytes())["version"] == 3


def test_a_sync_refused_by_the_signature_check_says_why(
    signed_origin: Market, http_market: MarketHTTPServer, tmp_path: Path
) -> None:
    pinned = tmp_path / "root.json"
    pinned.write_bytes((http_market.root / "root.json").read_bytes())
    run_command(
        "market_add", "sub", http_market.url, allow_private_network=True, trust_root=str(pinned)
    )
    path = http_market.root / "market.json"
    doc = json.loads(path.read_bytes())
    doc["serial"] += 1
    doc["description"] = "changed by whoever holds the bucket"
    path.write_text(json.dumps(doc))

    result = run_command("market_sync", "sub")

    assert result.status == 1
    assert result.stderr.startswith(
        "sub: sync failed: market.json carries 0 valid signature(s) of the trusted keys;"
        " 1 needed; keeping the previous catalogue"
    )
    assert not App.objects.filter(market__name="sub").exists()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"sign": True}, "--sign needs --team TEAM"),
        ({"sign": True, "team": "nobody"}, "no team named nobody"),
        ({"team": "platform-sre"}, "--team applies with --sign"),
        ({"sign": True, "team": "platform-sre", "threshold": 2}, "threshold must be between 1"),
    ],
)
def test_market_init_sign_refuses_bad_options_and_writes_nothing(
    team: Team, tmp_path: Path, options: dict[str, Any], error: str
) -> None:
    result = run_command("market_init", str(tmp_path / "m"), name="m", **options)

    assert result.status == 1 and error in result.stderr
    assert not (tmp_path / "m" / "market.json").exists()
    assert not (tmp_path / "m" / "root.json").exists()


def test_market_add_refuses_an_unreadable_or_forged_trust_root(
    signed_origin: Market, http_market: MarketHTTPServer, tmp_path: Path
) -> None:
    forged = json.loads((http_market.root / "root.json").read_bytes())
    forged["threshold"] = 1
    forged["expires"] = "2099-01-01T00:00:00Z"  # the signatures no longer match
    (tmp_path / "forged.json").write_text(json.dumps(forged))

    missing = run_command(
        "market_add", "sub", http_market.url, allow_private_network=True, trust_root="/nope.json"
    )
    bad = run_command(
        "market_add",
        "sub",
        http_market.url,
        allow_private_network=True,
        trust_root=str(tmp_path / "forged.json"),
    )

    assert missing.status == 1 and "cannot read /nope.json" in missing.stderr
    assert bad.status == 1 and "trust root: root.json version 1 (own keys) carries 0" in bad.stderr
    assert not Market.objects.filter(name="sub").exists()


# ------------------------------------------------------------------ API


def test_the_api_pins_a_root_and_shows_the_signature(
    signed_origin: Market, http_market: MarketHTTPServer, api_client: Any, staff_user: Any
) -> None:
    api_client.force_authenticate(staff_user)
    root = json.loads((http_market.root / "root.json").read_bytes())
    body = {"name": "sub", "location": http_market.url, "allow_private_network": True}

    bad = api_client.post("/api/v1/markets/", {**body, "trust_root": {"format": 1}}, format="json")
    created = api_client.post("/api/v1/markets/", {**body, "trust_root": root}, format="json")
    market_sync(market=Market.objects.get(name="sub"))
    listed = {m["name"]: m for m in api_client.get("/api/v1/markets/").json()["results"]}

    assert bad.status_code == 400 and "trust_root" in bad.json()["detail"]
    assert created.status_code == 201, created.json()
    assert created.json()["trust_root_version"] == 1
    key = SigningKey.objects.get()
    assert listed["sub"]["signature"] == {
        "state": "verified",
        "signers": [{"keyid": key.keyid, "team": "platform-sre"}],
        "expires": Market.objects.get(name="sub").signature["expires"],
    }
    assert listed["origin"]["signature"]["state"] == "unsigned"  # not synced yet
    assert AuditEvent.objects.get(action="market.add", target_repr="sub").detail["trust_root"] == {
        "version": 1,
        "signers": [key.keyid],
    }


# ------------------------------------------------------------------ pages


def test_the_add_form_takes_a_root_file(
    signed_origin: Market, http_market: MarketHTTPServer, client: Any, staff_user: Any
) -> None:
    client.force_login(staff_user)
    root = (http_market.root / "root.json").read_bytes()
    form = {"name": "sub", "location": http_market.url, "allow_private_network": "on"}

    page = client.get("/market/markets/new/").content.decode()
    bad = client.post(
        "/market/markets/new/",
        {**form, "trust_root": SimpleUploadedFile("root.json", b"[]")},
    )
    good = client.post(
        "/market/markets/new/", {**form, "trust_root": SimpleUploadedFile("root.json", root)}
    )

    assert 'enctype="multipart/form-data"' in page and 'name="trust_root"' in page
    assert bad.status_code == 400
    assert "Trust root: root.json is not a format-1 root document" in bad.content.decode()
    assert good.status_code == 302
    assert Market.objects.get(name="sub").trust_root == json.loads(root)


def test_app_pages_say_who_signed_the_market(
    signed_origin: Market, http_market: MarketHTTPServer, client: Any, user: Any
) -> None:
    pinned = market_add(
        actor=Actor.system(),
        name="sub",
        location=http_market.url,
        allow_private_network=True,
        trust_root=(http_market.root / "root.json").read_bytes(),
    )
    unpinned = market_add(
        actor=Actor.system(), name="mirror", location=http_market.url, allow_private_network=True
    )
    market_sync(market=pinned)
    market_sync(market=unpinned)
    market_sync(market=signed_origin)
    key = SigningKey.objects.get().keyid[:8]
    client.force_login(user)

    verified = client.get("/market/sub/app-a/").content.decode()
    unchecked = client.get("/market/mirror/app-a/").content.decode()

    assert 'data-signature="verified"' in verified
    assert f"Signed by platform-sre key {key}</span>" in verified
    assert "Verified against the pinned root.json (version 1)" in verified
    assert f"Signed by key {key}, not verified" in unchecked  # no root: no team label
    # The Markets tab lists each market's signature beside its offer.
    assert unchecked.count('data-signature="') == 4  # the aside + three offers


def test_an_unsigned_market_is_named_so(client: Any, user: Any, tmp_path: Path) -> None:
    market_init(location=str(tmp_path / "plain"), name="plain")
    plain = market_add(
        actor=Actor.system(), name="plain", location=str(tmp_path / "plain"), writable=True
    )
    publish_small(plain, "app-a", "1.0.0")
    market_sync(market=plain)
    client.force_login(user)

    html = client.get("/market/plain/app-a/").content.decode()

    assert 'data-signature="unsigned"' in html and ">Unsigned market</span>" in html
    assert "whoever can write to its storage can change what it offers" in html
