"""Many publishers, one market: nothing lost, nothing twice, never half-visible.

Every test runs on a local directory and on the S3 server (moto), with OS processes
(spawned, so nothing is shared but the storage) publishing through the real write
path: archive create-only, then index.json and market.json by compare-and-swap.

On S3 they run against scripts/s3_server.py, moto with each request handled under
one lock: plain moto can let two conditional writes both pass
(tests/market/test_storage_s3.py, MOTO_NOT_ATOMIC), while AWS S3 decides them
atomically, and tests/market/test_s3_server_atomic.py shows the served one does.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import queue
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from market.index import archive_key, index_key, market_entry
from market.models import AppVersion, Market
from market.semver import parse_version
from market.services import publish as publish_module
from market.services import signing as signing_module
from market.services.markets import market_add, market_init
from market.services.publish import package_publish
from market.services.sync import market_sync
from market.storage.base import MarketStorage
from portal.actors import Actor
from portal.crypto import encrypt_json
from portal.models import AuditEvent
from tests.market.publish_workers import build_archive, publish_at_barrier, publish_many
from tests.market.storage_fixtures import StorageSpec

PROCESSES = 8
PER_PROCESS = 25
JOIN_SECONDS = 300


Archive = tuple[str, bytes]
Builder = Callable[..., Archive]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    """build_archive, each package built once per module: the local and the S3 run of a
    test publish the same bytes."""
    workdir = tmp_path_factory.mktemp("packages")
    return cache(lambda name, version, readme="": build_archive(workdir, name, version, readme))


def init_market(spec: StorageSpec, name: str = "race") -> MarketStorage:
    market_init(
        location=spec.location,
        name=name,
        endpoint_url=spec.endpoint_url,
        credentials=spec.credentials,
        allow_private_network=True,
    )
    return spec.open()


def run_processes(target: Any, argument_lists: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Start one spawned process per argument tuple (each gets a results queue as its
    last argument), collect one report from each, and check they all exited cleanly."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=target, args=(*args, results)) for args in argument_lists]
    for process in processes:
        process.start()
    reports = []
    try:
        for _ in processes:
            reports.append(results.get(timeout=JOIN_SECONDS))
    except queue.Empty:
        pytest.fail("a publisher process never reported")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    assert [process.exitcode for process in processes] == [0] * len(processes)
    errors = [report["error"] for report in reports if report["error"]]
    assert errors == []
    return reports


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicates, f"duplicate keys in a stored document: {duplicates}"
    return dict(pairs)


def read_doc(storage: MarketStorage, key: str) -> tuple[dict[str, Any], bytes]:
    data = storage.get(key).data
    return json.loads(data, object_pairs_hook=no_duplicate_keys), data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_market_matches(storage: MarketStorage, expected: dict[str, dict[str, str]]) -> int:
    """The stored market holds exactly `expected` ({app: {version: digest}}), each
    archive with its digest, and market.json describes every stored index.json.
    Returns the serial."""
    market, _ = read_doc(storage, "market.json")
    assert sorted(market["apps"]) == sorted(expected)
    for name, versions in expected.items():
        index, index_bytes = read_doc(storage, index_key(name))
        assert sorted(index["versions"]) == sorted(versions)
        for version, digest in versions.items():
            assert index["versions"][version]["digest"] == digest
            assert "sha256:" + sha256(storage.get(archive_key(name, version)).data) == digest
        entry = market["apps"][name]
        assert entry["index_digest"] == sha256(index_bytes)
        assert entry["versions"] == sorted(versions, key=parse_version)
        assert entry["latest"] == max(versions, key=parse_version)
        assert entry == market_entry(index, index_bytes)
    return int(market["serial"])


def published_digests(reports: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for report in reports:
        for name, version, digest, created in report["published"]:
            assert created is True
            assert version not in found.get(name, {}), f"{name} {version} published twice"
            found.setdefault(name, {})[version] = digest
    return found


@pytest.mark.slow
def test_eight_processes_publishing_200_versions_of_one_app_all_appear_exactly_once(
    storage_spec: StorageSpec, archive: Builder
) -> None:
    """Contention on one index.json and on market.json."""
    storage = init_market(storage_spec)
    batches = [
        [archive("burst", f"1.{worker}.{n}") for n in range(PER_PROCESS)]
        for worker in range(PROCESSES)
    ]

    reports = run_processes(
        publish_many,
        [(storage_spec, "race", batch, f"platform-{w}") for w, batch in enumerate(batches)],
    )

    published = published_digests(reports)
    assert len(published["burst"]) == PROCESSES * PER_PROCESS
    serial = assert_market_matches(storage, published)
    # Two publishers can leave the same market.json entry (the later index already
    # holds both versions), so the serial counts writes, not publishes: every write
    # raised it by exactly one, and no write was lost.
    assert serial == sum(report["market_json_writes"] for report in reports)
    assert 1 <= serial <= PROCESSES * PER_PROCESS
    assert read_doc(storage, "market.json")[0]["apps"]["burst"]["latest"] == "1.7.24"


@pytest.mark.slow
def test_eight_processes_publishing_25_versions_of_eight_apps_all_appear_exactly_once(
    storage_spec: StorageSpec, archive: Builder
) -> None:
    """Contention on market.json only: each app has one publisher."""
    storage = init_market(storage_spec)
    batches = [
        [archive(f"app-{worker}", f"1.0.{n}") for n in range(PER_PROCESS)]
        for worker in range(PROCESSES)
    ]

    reports = run_processes(
        publish_many,
        [(storage_spec, "race", batch, f"platform-{w}") for w, batch in enumerate(batches)],
    )

    published = published_digests(reports)
    assert sorted(published) == [f"app-{worker}" for worker in range(PROCESSES)]
    assert all(len(versions) == PER_PROCESS for versions in published.values())
    serial = assert_market_matches(storage, published)
    # Every publish changed its app's entry, so every publish wrote market.json once.
    assert serial == PROCESSES * PER_PROCESS
    assert serial == sum(report["market_json_writes"] for report in reports)


@pytest.mark.slow
def test_two_platforms_racing_one_version_with_different_content_one_wins(
    storage_spec: StorageSpec, archive: Builder
) -> None:
    """Both start at a barrier, several rounds: each round exactly one publish succeeds,
    the other gets VersionConflict, and the index and the stored archive are the
    winner's."""
    storage = init_market(storage_spec)
    versions = ["2.0.0", "2.0.1", "2.0.2", "2.0.3"]
    archives = {
        side: [archive("contested", v, f"# built by {side}\n") for v in versions]
        for side in ("east", "west")
    }
    for east, west in zip(archives["east"], archives["west"], strict=True):
        assert east[1] != west[1]
    barrier = multiprocessing.get_context("spawn").Barrier(2)

    reports = run_processes(
        publish_at_barrier,
        [(storage_spec, "race", archives[side], side, barrier) for side in ("east", "west")],
    )

    by_side = {report["publisher"]: report["outcomes"] for report in reports}
    expected: dict[str, str] = {}
    for round_number, version in enumerate(versions):
        outcomes = {side: by_side[side][round_number] for side in ("east", "west")}
        kinds = sorted(outcome[0] for outcome in outcomes.values())
        assert kinds == ["conflict", "ok"], f"round {version}: {outcomes}"
        winner = next(side for side, outcome in outcomes.items() if outcome[0] == "ok")
        loser = "west" if winner == "east" else "east"
        assert "already published with other content" in outcomes[loser][1]
        expected[version] = outcomes[winner][1]
        winner_bytes = archives[winner][round_number][1]
        assert expected[version] == "sha256:" + sha256(winner_bytes)
        assert storage.get(archive_key("contested", version)).data == winner_bytes
        index, _ = read_doc(storage, index_key("contested"))
        assert index["versions"][version]["publisher"] == winner

    serial = assert_market_matches(storage, {"contested": expected})
    assert serial == len(versions)  # losers changed nothing


# --- a publisher dying between its writes --------------------------------------------


def subscribe(spec: StorageSpec, name: str) -> Any:
    return market_add(
        actor=Actor.system(),
        name=name,
        location=spec.location,
        endpoint_url=spec.endpoint_url or "",
        credentials=spec.credentials,
        allow_private_network=True,
    )


def catalogue(market: Any) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for app, version in AppVersion.objects.filter(app__market=market).values_list(
        "app__name", "version"
    ):
        rows.setdefault(app, []).append(version)
    return {app: sorted(versions, key=parse_version) for app, versions in sorted(rows.items())}


@pytest.mark.django_db
def test_a_publish_dying_before_market_json_stays_invisible_and_a_retry_repairs_it(
    storage_spec: StorageSpec, archive: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    market_init(
        location=storage_spec.location,
        name="origin",
        endpoint_url=storage_spec.endpoint_url,
        credentials=storage_spec.credentials,
        allow_private_network=True,
    )
    origin = Market.objects.create(
        name="origin",
        location=storage_spec.location,
        endpoint_url=storage_spec.endpoint_url or "",
        writable=True,
        allow_private_network=True,
    )
    if storage_spec.credentials:
        origin.credentials_encrypted = encrypt_json(storage_spec.credentials)
        origin.save()

    def publish(name: str, version: str) -> Any:
        filename, data = archive(name, version)
        return package_publish(actor=Actor.system(), market=origin, data=data, filename=filename)

    publish("app-a", "1.0.0")
    publish("app-b", "1.0.0")
    warm = subscribe(storage_spec, "warm")
    market_sync(market=warm)
    storage = storage_spec.open()
    market_before = storage.get("market.json").data

    real_update_json = publish_module.update_json

    def dies_on_market_json(storage: MarketStorage, key: str, *args: Any, **kwargs: Any) -> Any:
        if key == "market.json":
            raise RuntimeError("publisher died before writing market.json")
        return real_update_json(storage, key, *args, **kwargs)

    monkeypatch.setattr(publish_module, "update_json", dies_on_market_json)
    # market.json is written by the signing module's one writer of it.
    monkeypatch.setattr(signing_module, "update_json", dies_on_market_json)
    for name, version in [("app-a", "1.1.0"), ("app-c", "1.0.0")]:
        with pytest.raises(RuntimeError, match="publisher died"):
            publish(name, version)
    monkeypatch.undo()

    # Half done: archives and indexes written, market.json untouched, no audit record.
    assert storage.exists(archive_key("app-a", "1.1.0"))
    assert "1.1.0" in read_doc(storage, index_key("app-a"))[0]["versions"]
    assert storage.exists(index_key("app-c"))
    assert storage.get("market.json").data == market_before
    assert AuditEvent.objects.filter(action="package.publish").count() == 2

    # A subscriber that had synced sees no change at all, for one request.
    warm_report = market_sync(market=warm)
    assert warm_report.unchanged and warm_report.requests == 1
    assert catalogue(warm) == {"app-a": ["1.0.0"], "app-b": ["1.0.0"]}
    # A new subscriber cannot verify app-a's index against market.json: it skips and
    # reports app-a rather than show versions market.json does not vouch for.
    cold = subscribe(storage_spec, "cold")
    cold_report = market_sync(market=cold)
    assert cold_report.added == ["app-b"]
    assert [(s["app"], "index_digest" in s["reason"]) for s in cold_report.skipped] == [
        ("app-a", True)
    ]
    assert catalogue(cold) == {"app-b": ["1.0.0"]}

    # Publishing the same archives again finds archive and index in place and
    # writes market.json: the market is whole again.
    retried = [publish("app-a", "1.1.0"), publish("app-c", "1.0.0")]
    assert [r.created for r in retried] == [False, False]
    serial = assert_market_matches(
        storage,
        {
            "app-a": {
                "1.0.0": read_doc(storage, index_key("app-a"))[0]["versions"]["1.0.0"]["digest"],
                "1.1.0": retried[0].digest,
            },
            "app-b": {
                "1.0.0": read_doc(storage, index_key("app-b"))[0]["versions"]["1.0.0"]["digest"]
            },
            "app-c": {"1.0.0": retried[1].digest},
        },
    )
    assert serial == 4

    warm_report = market_sync(market=warm)
    cold_report = market_sync(market=cold)
    assert (warm_report.added, warm_report.updated) == (["app-c"], ["app-a"])
    assert (cold_report.added, cold_report.skipped) == (["app-a", "app-c"], [])
    whole = {"app-a": ["1.0.0", "1.1.0"], "app-b": ["1.0.0"], "app-c": ["1.0.0"]}
    assert catalogue(warm) == catalogue(cold) == whole
