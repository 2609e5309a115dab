"""Signed markets (SPEC 14) against real subscribers: a static HTTP server on loopback
and the S3 server. Each attack on storage (a tampered market.json, an index that is
not the one signed, a swapped archive, an expired or rolled-back document, a root
rotated without the old keys) is refused and the subscriber's catalogue stays
exactly as it was; a rotation made with the old keys is accepted."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from market.models import App, AppVersion, Market, SigningKey
from market.services import fetch as fetch_module
from market.services import signing as signing_service
from market.services.fetch import ArchiveMismatch, package_fetch
from market.services.markets import MarketRefused, market_add, market_init
from market.services.signing import market_root_rotate, signing_key_create
from market.services.sync import SyncRefused, market_sync
from market.signing import (
    PrivateKey,
    canonical_json,
    document_sign,
    key_id,
    public_raw,
    root_build,
    root_key_entry,
    signatures_check,
)
from market.storage.cas import dump_json
from market.tasks import app_details_task
from portal.actors import Actor
from portal.crypto import decrypt_json
from portal.models import AuditEvent, Team
from tests.factories import make_team
from tests.market.api_helpers import (
    publish_small,
    queued_tasks_fixture,  # noqa: F401 - the queued_tasks fixture
    small_package,
)
from tests.market.storage_fixtures import (
    MarketHTTPServer,
    drop_bucket,
    new_bucket,
    s3_client,
    s3_credentials,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("queued_tasks", "loopback_only", "_package_cache"),
]


@pytest.fixture
def _package_cache(settings: Any, tmp_path: Path) -> None:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"


@dataclass
class Served:
    """A signed market as its publisher's portal writes it (`origin`), the storage
    an attacker can write behind its back, and how a subscriber reaches it."""

    kind: str
    origin: Market
    root_v1: bytes
    read: Callable[[str], bytes]
    write: Callable[[str, bytes], None]
    subscribe_options: dict[str, Any]
    http: MarketHTTPServer | None = None

    def subscribe(self, name: str = "sub", *, pin: bytes | None = b"") -> Market:
        trust_root = self.root_v1 if pin == b"" else pin
        return market_add(
            actor=Actor.system(), name=name, trust_root=trust_root, **self.subscribe_options
        )

    def edit_json(self, key: str, change: Callable[[dict[str, Any]], None]) -> None:
        doc = json.loads(self.read(key))
        change(doc)
        self.write(key, dump_json(doc))


@pytest.fixture
def team() -> Team:
    return make_team("platform-sre")


@pytest.fixture(params=["http", "s3"])
def served(request: pytest.FixtureRequest, team: Team, tmp_path: Path) -> Iterator[Served]:
    """A signed market with app-a 1.0.0 and app-b 1.0.0, over HTTP or S3."""
    if request.param == "http":
        http: MarketHTTPServer = request.getfixturevalue("http_market")
        root = http.root
        market_init(location=str(root), name="origin", sign_team=team)
        origin = market_add(actor=Actor.system(), name="origin", location=str(root), writable=True)

        def write(key: str, data: bytes) -> None:
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(data)

        served = Served(
            "http",
            origin,
            (root / "root.json").read_bytes(),
            lambda key: (root / key).read_bytes(),
            write,
            {"location": http.url, "allow_private_network": True},
            http,
        )
        yield from _published(served)
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = new_bucket(endpoint)
    location = f"s3://{bucket}/markets/signed"
    s3 = {
        "endpoint_url": endpoint,
        "allow_private_network": True,
        "credentials": s3_credentials(),
    }
    client = s3_client(endpoint)
    market_init(location=location, name="origin", sign_team=team, **s3)
    origin = market_add(actor=Actor.system(), name="origin", location=location, writable=True, **s3)
    prefix = "markets/signed/"

    def read(key: str) -> bytes:
        return bytes(client.get_object(Bucket=bucket, Key=prefix + key)["Body"].read())

    def write_s3(key: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=prefix + key, Body=data)

    try:
        yield from _published(
            Served("s3", origin, read("root.json"), read, write_s3, {"location": location, **s3})
        )
    finally:
        drop_bucket(endpoint, bucket)


def _published(served: Served) -> Iterator[Served]:
    publish_small(served.origin, "app-a", "1.0.0")
    publish_small(served.origin, "app-b", "1.0.0")
    yield served


def catalogue(market: Market) -> dict[str, Any]:
    """Everything a sync may change for `market`: rows, serial, ETag, trust."""
    market.refresh_from_db()
    return {
        "apps": list(App.objects.filter(market=market).order_by("name").values()),
        "versions": list(
            AppVersion.objects.filter(app__market=market).order_by("app__name", "version").values()
        ),
        "market": (market.serial, market.etag, market.trust_root, market.signature),
    }


def synced(served: Served, name: str = "sub") -> tuple[Market, dict[str, Any]]:
    subscriber = served.subscribe(name)
    report = market_sync(market=subscriber)
    assert report.added == ["app-a", "app-b"]
    return subscriber, catalogue(subscriber)


def attacker_key() -> PrivateKey:
    key = Ed25519PrivateKey.generate()
    return PrivateKey(keyid=key_id(public_raw(key)), key=key)


# ------------------------------------------------------------------ what is written


def test_a_signed_market_has_a_root_and_a_market_json_signed_by_the_team_key(
    served: Served, team: Team
) -> None:
    key = SigningKey.objects.get(team=team)
    root = json.loads(served.read("root.json"))
    market = json.loads(served.read("market.json"))

    assert served.read("roots/1.json") == served.read("root.json")
    assert root["version"] == 1 and root["threshold"] == 1
    assert list(root["keys"]) == [key.keyid]
    assert root["keys"][key.keyid]["team"] == "platform-sre"
    assert [s["keyid"] for s in market["signatures"]] == [key.keyid]
    assert signatures_check(market, keys=root["keys"], threshold=1, what="m") == [key.keyid]
    expires = datetime.fromisoformat(market["expires"].replace("Z", "+00:00"))
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    assert sorted(market["apps"]) == ["app-a", "app-b"] and market["serial"] == 2


def test_the_private_key_is_encrypted_at_rest(team: Team) -> None:
    key = signing_key_create(actor=Actor.system(), team=team)

    raw = decrypt_json(key.private_encrypted)["ed25519"]
    assert raw not in key.private_encrypted and key.public not in key.private_encrypted
    assert AuditEvent.objects.filter(action="signing_key.create", target_id=str(key.pk)).exists()


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": [1, {"z": "é", "a": None}], "a": True}) == (
        '{"a":true,"b":[1,{"a":null,"z":"é"}]}'.encode()
    )


# ------------------------------------------------------------------ a verified subscriber


def test_a_pinned_subscriber_syncs_and_records_who_signed(served: Served, team: Team) -> None:
    subscriber, _ = synced(served)

    key = SigningKey.objects.get(team=team)
    assert subscriber.signature["verified"] is True
    assert subscriber.signature["signers"] == [{"keyid": key.keyid, "team": "platform-sre"}]
    assert subscriber.trust_root is not None and subscriber.trust_root["version"] == 1
    publish_small(served.origin, "app-c", "1.0.0")
    assert market_sync(market=subscriber).added == ["app-c"]


def test_an_unchanged_pinned_market_still_costs_one_request(served: Served) -> None:
    subscriber, _ = synced(served)

    report = market_sync(market=subscriber)

    assert report.unchanged and report.requests == 1


def test_a_trust_root_that_is_not_a_signed_root_is_refused_at_add(served: Served) -> None:
    forged = json.loads(served.root_v1)
    forged["threshold"] = 1
    forged["keys"] = {attacker_key().keyid: forged["keys"][next(iter(forged["keys"]))]}

    with pytest.raises(MarketRefused, match="does not match its keyid"):
        served.subscribe(pin=dump_json(forged))
    with pytest.raises(MarketRefused, match=r"trust root: root.json is not valid JSON"):
        served.subscribe(pin=b"{nope")
    assert not Market.objects.filter(name="sub").exists()


# ------------------------------------------------------------------ attacks, each refused


def test_a_tampered_market_json_is_refused(served: Served) -> None:
    subscriber, before = synced(served)

    def tamper(doc: dict[str, Any]) -> None:
        doc["apps"]["app-a"]["summary"] = "Now with a cryptominer"
        doc["serial"] += 1

    served.edit_json("market.json", tamper)

    with pytest.raises(SyncRefused, match=r"market.json carries 0 valid signature"):
        market_sync(market=subscriber)
    assert catalogue(subscriber) == before


def test_a_market_json_signed_by_a_key_outside_the_root_is_refused(served: Served) -> None:
    subscriber, before = synced(served)
    doc = json.loads(served.read("market.json"))
    doc["serial"] += 1
    forged = document_sign(
        doc, keys=[attacker_key()], expires=datetime.now(UTC) + timedelta(days=5)
    )
    served.write("market.json", dump_json(forged))

    with pytest.raises(SyncRefused, match="0 valid signature"):
        market_sync(market=subscriber)
    assert catalogue(subscriber) == before


def test_an_index_that_is_not_the_signed_one_is_refused(served: Served) -> None:
    subscriber, before = synced(served)
    publish_small(served.origin, "app-a", "1.1.0")  # a real publish: market.json signed
    publish_small(served.origin, "app-b", "1.1.0")

    def add_evil_version(index: dict[str, Any]) -> None:
        entry = dict(index["versions"]["1.1.0"])
        entry["manifest"] = {**entry["manifest"], "version": "9.9.9"}
        entry["archive"] = "app-b-9.9.9.tgz"
        index["versions"]["9.9.9"] = entry

    served.edit_json("apps/app-b/index.json", add_evil_version)

    with pytest.raises(SyncRefused, match=r"app-b: index.json is not the one the signed"):
        market_sync(market=subscriber)
    # app-a's good update, stored before app-b was reached, was rolled back too.
    assert catalogue(subscriber) == before


def test_a_swapped_archive_is_refused_at_fetch(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriber, before = synced(served)
    # Packages this process already read, by digest (other tests publish the same
    # bytes): verified bytes stay true, but this test is about reading storage.
    monkeypatch.setattr(fetch_module, "_read", OrderedDict())
    _, evil = small_package("app-a", "1.0.0", title="Evil twin")
    good = served.read("apps/app-a/app-a-1.0.0.tgz")
    served.write("apps/app-a/app-a-1.0.0.tgz", evil)
    version = AppVersion.objects.get(app__market=subscriber, app__name="app-a")

    with pytest.raises(ArchiveMismatch, match="changed or swapped, refusing it"):
        package_fetch(version=version)
    served.write("apps/app-a/app-a-1.0.0.tgz", good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(ArchiveMismatch, match="digest differs from the index"):
        package_fetch(version=version)

    app_details_task(list(subscriber.apps.values_list("pk", flat=True)))
    assert App.objects.get(market=subscriber, name="app-a").readme == ""
    assert market_sync(market=subscriber).unchanged
    assert catalogue(subscriber)["versions"] == before["versions"]


def test_an_expired_market_json_is_refused(served: Served, settings: Any) -> None:
    subscriber, before = synced(served)
    settings.MARKET_SIGNATURE_DAYS = 0  # the publisher signs with an expiry already past
    publish_small(served.origin, "app-c", "1.0.0")

    with pytest.raises(SyncRefused, match=r"market.json expired on .*frozen"):
        market_sync(market=subscriber)
    assert catalogue(subscriber) == before


def test_a_frozen_market_is_refused_once_its_signature_expires(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mirror that keeps answering 'not modified' (or the same old bytes) forever."""
    subscriber, before = synced(served)
    later = datetime.now(UTC) + timedelta(days=31)
    monkeypatch.setattr(signing_service, "_now", lambda: later)

    with pytest.raises(SyncRefused, match="expired on"):
        market_sync(market=subscriber)  # answered 304
    subscriber.etag = ""
    subscriber.save(update_fields=["etag"])
    before["market"] = catalogue(subscriber)["market"]
    with pytest.raises(SyncRefused, match="expired on"):
        market_sync(market=subscriber)  # the same document again, in full
    assert catalogue(subscriber) == before


def test_a_rolled_back_market_json_is_refused(served: Served) -> None:
    subscriber, _ = synced(served)
    older = served.read("market.json")  # validly signed, not expired
    publish_small(served.origin, "app-c", "1.0.0")
    market_sync(market=subscriber)
    before = catalogue(subscriber)
    served.write("market.json", older)

    with pytest.raises(SyncRefused, match=r"lower than .* already seen"):
        market_sync(market=subscriber)
    assert catalogue(subscriber) == before


def test_a_root_rotated_without_the_old_keys_is_refused(served: Served) -> None:
    subscriber, before = synced(served)
    evil = attacker_key()
    root = root_build(
        version=2,
        keys={evil.keyid: root_key_entry(public_raw(evil.key), team="platform-sre")},
        threshold=1,
        expires=datetime.now(UTC) + timedelta(days=300),
        signers=[evil],
    )
    served.write("roots/2.json", dump_json(root))
    served.write("root.json", dump_json(root))
    doc = json.loads(served.read("market.json"))
    doc["serial"] += 1
    doc["apps"]["app-a"]["summary"] = "Signed by whoever holds the bucket"
    served.write(
        "market.json",
        dump_json(document_sign(doc, keys=[evil], expires=datetime.now(UTC) + timedelta(days=5))),
    )

    with pytest.raises(SyncRefused, match=r"root.json version 2 \(keys of version 1\) carries 0"):
        market_sync(market=subscriber)
    assert catalogue(subscriber) == before


def test_a_rolled_back_root_is_refused(served: Served, team: Team) -> None:
    subscriber, _ = synced(served)
    new = signing_key_create(actor=Actor.system(), team=team)
    market_root_rotate(actor=Actor.system(), market=served.origin, keyids=[new.keyid])
    market_sync(market=subscriber)
    before = catalogue(subscriber)
    served.write("root.json", served.root_v1)
    publish_small(served.origin, "app-c", "1.0.0")

    with pytest.raises(SyncRefused, match="version 1 is older than version 2 already trusted"):
        market_sync(market=subscriber)
    assert catalogue(subscriber) == before


# ------------------------------------------------------------------ rotation


def test_a_rotation_signed_by_the_old_keys_is_accepted(served: Served, team: Team) -> None:
    subscriber, _ = synced(served)
    old = SigningKey.objects.get(team=team)
    new = signing_key_create(actor=Actor.system(), team=team)

    root = market_root_rotate(
        actor=Actor.system(), market=served.origin, keyids=[new.keyid], retire_dropped=True
    )
    publish_small(served.origin, "app-c", "1.0.0")  # signed with the new key alone
    report = market_sync(market=subscriber)

    assert root["version"] == 2 and list(root["keys"]) == [new.keyid]
    assert report.added == ["app-c"]
    subscriber.refresh_from_db()
    assert subscriber.trust_root == root
    assert subscriber.signature["signers"] == [{"keyid": new.keyid, "team": "platform-sre"}]
    old.refresh_from_db()
    assert old.retired_at is not None
    market = json.loads(served.read("market.json"))
    assert [s["keyid"] for s in market["signatures"]] == [new.keyid]
    assert AuditEvent.objects.filter(action="market.root_rotate").count() == 1

    # A subscriber pinned to version 1 walks every version since: 1 -> 2 -> 3.
    newest = signing_key_create(actor=Actor.system(), team=team)
    market_root_rotate(actor=Actor.system(), market=served.origin, keyids=[newest.keyid])
    late = served.subscribe("late")
    assert sorted(market_sync(market=late).added) == ["app-a", "app-b", "app-c"]
    late.refresh_from_db()
    assert late.trust_root is not None and late.trust_root["version"] == 3
    if served.http is not None:
        paths = [r.path for r in served.http.requests]
        assert "/roots/2.json" in paths and "/roots/3.json" not in paths


def test_a_rotation_needs_the_old_keys_held_here(served: Served, team: Team) -> None:
    new = signing_key_create(actor=Actor.system(), team=team)
    SigningKey.objects.exclude(pk=new.pk).update(retired_at=datetime.now(UTC))

    with pytest.raises(signing_service.SigningRefused, match="needs 1 of its keys"):
        market_root_rotate(actor=Actor.system(), market=served.origin, keyids=[new.keyid])
    assert json.loads(served.read("root.json"))["version"] == 1
    # Nor does a publish write a market.json no subscriber could verify.
    with pytest.raises(signing_service.SigningRefused, match="holds 0 of them"):
        publish_small(served.origin, "app-c", "1.0.0")


def test_resign_renews_a_market_json_close_to_expiry(
    served: Served, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriber, _ = synced(served)
    assert signing_service.market_resign(actor=Actor.system(), market=served.origin) == []
    serial = json.loads(served.read("market.json"))["serial"]

    later = datetime.now(UTC) + timedelta(days=25)  # within MARKET_RESIGN_DAYS of expiry
    monkeypatch.setattr(signing_service, "_now", lambda: later)
    renewed = signing_service.markets_resign_due(actor=Actor.system())

    assert renewed == {"origin": ["market.json"]}
    doc = json.loads(served.read("market.json"))
    assert doc["serial"] == serial + 1
    monkeypatch.setattr(signing_service, "_now", lambda: datetime.now(UTC) + timedelta(days=40))
    report = market_sync(market=subscriber)  # still in date 40 days on
    assert report.serial == serial + 1
