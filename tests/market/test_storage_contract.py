"""The storage contract, run identically against a local directory and S3 (moto).

Every writable backend must pass all of it: the publish and sync services rely on
nothing else.
"""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest

from market.storage import (
    AlreadyExists,
    MarketStorage,
    NotFound,
    PreconditionFailed,
    ReadOnlyStorage,
    StorageError,
    probe_conditional_writes,
    update_json,
)
from tests.market.storage_fixtures import StorageSpec, append_entries_worker, read_entries


def test_missing_key_is_not_found(storage: MarketStorage) -> None:
    with pytest.raises(NotFound):
        storage.get("market.json")
    with pytest.raises(NotFound):
        storage.get_if_changed("market.json", "some-etag")
    assert storage.exists("market.json") is False


def test_put_new_creates_and_get_returns_bytes_and_etag(storage: MarketStorage) -> None:
    data = bytes(range(256)) * 3
    etag = storage.put_new("apps/redis-ops/redis-ops-1.2.0.tgz", data)

    blob = storage.get("apps/redis-ops/redis-ops-1.2.0.tgz")
    assert blob.data == data
    assert blob.etag == etag
    assert storage.exists("apps/redis-ops/redis-ops-1.2.0.tgz") is True


def test_empty_object_round_trips(storage: MarketStorage) -> None:
    etag = storage.put_new("empty", b"")
    assert storage.get("empty").data == b""
    assert storage.get("empty").etag == etag


def test_put_new_refuses_an_existing_key_and_keeps_its_content(storage: MarketStorage) -> None:
    storage.put_new("apps/x/x-1.0.0.tgz", b"original")

    with pytest.raises(AlreadyExists):
        storage.put_new("apps/x/x-1.0.0.tgz", b"replacement")

    assert storage.get("apps/x/x-1.0.0.tgz").data == b"original"


def test_put_if_match_none_creates_only_when_missing(storage: MarketStorage) -> None:
    etag = storage.put_if_match("market.json", b'{"serial": 1}', None)

    with pytest.raises(PreconditionFailed):
        storage.put_if_match("market.json", b'{"serial": 99}', None)

    assert storage.get("market.json") == storage.get("market.json")
    assert storage.get("market.json").data == b'{"serial": 1}'
    assert storage.get("market.json").etag == etag


def test_put_if_match_none_loses_to_put_new(storage: MarketStorage) -> None:
    storage.put_new("market.json", b"first")
    with pytest.raises(PreconditionFailed):
        storage.put_if_match("market.json", b"second", None)
    assert storage.get("market.json").data == b"first"


def test_put_if_match_replaces_with_the_current_etag(storage: MarketStorage) -> None:
    first = storage.put_new("apps/x/index.json", b"v1")

    second = storage.put_if_match("apps/x/index.json", b"v2", first)

    assert second != first
    assert storage.get("apps/x/index.json").data == b"v2"
    assert storage.get("apps/x/index.json").etag == second


def test_put_if_match_with_a_stale_etag_fails_and_writes_nothing(storage: MarketStorage) -> None:
    stale = storage.put_new("apps/x/index.json", b"v1")
    current = storage.put_if_match("apps/x/index.json", b"v2", stale)

    with pytest.raises(PreconditionFailed):
        storage.put_if_match("apps/x/index.json", b"lost update", stale)

    blob = storage.get("apps/x/index.json")
    assert (blob.data, blob.etag) == (b"v2", current)


def test_put_if_match_on_a_missing_key_fails(storage: MarketStorage) -> None:
    etag = storage.put_new("market.json", b"v1")
    storage.delete("market.json")

    with pytest.raises(PreconditionFailed):
        storage.put_if_match("market.json", b"v2", etag)

    assert storage.exists("market.json") is False


def test_get_if_changed_returns_none_until_the_object_changes(storage: MarketStorage) -> None:
    etag = storage.put_new("market.json", b"v1")

    assert storage.get_if_changed("market.json", etag) is None
    assert storage.get_if_changed("market.json", None) == storage.get("market.json")

    new_etag = storage.put_if_match("market.json", b"v2", etag)
    changed = storage.get_if_changed("market.json", etag)
    assert changed is not None
    assert (changed.data, changed.etag) == (b"v2", new_etag)


def test_an_unchanged_document_costs_one_request(storage: MarketStorage) -> None:
    etag = storage.put_new("market.json", b"{}")
    before = storage.request_count

    assert storage.get_if_changed("market.json", etag) is None

    assert storage.request_count - before == 1


def test_delete_removes_and_tolerates_a_missing_key(storage: MarketStorage) -> None:
    storage.put_new(".probe/abc/object", b"x")

    storage.delete(".probe/abc/object")
    storage.delete(".probe/abc/object")

    assert storage.exists(".probe/abc/object") is False
    with pytest.raises(NotFound):
        storage.get(".probe/abc/object")


def test_read_only_storage_refuses_every_write(storage_spec: StorageSpec) -> None:
    writer = storage_spec.open(writable=True)
    writer.put_new("market.json", b"v1")
    reader = storage_spec.open(writable=False)

    for write in (
        lambda: reader.put_new("other.json", b"x"),
        lambda: reader.put_if_match("market.json", b"x", None),
        lambda: reader.delete("market.json"),
    ):
        with pytest.raises(ReadOnlyStorage):
            write()
    assert reader.request_count == 0
    assert reader.get("market.json").data == b"v1"


@pytest.mark.parametrize(
    "key",
    ["", "/market.json", "../market.json", "apps/../../etc/passwd", "apps//x", "apps/x/",
     "./market.json", "apps\\x", "apps/\x00x", "market.json\n", "C:/market.json"],
)  # fmt: skip
def test_unsafe_keys_are_refused_before_any_request(storage: MarketStorage, key: str) -> None:
    with pytest.raises(StorageError):
        storage.put_new(key, b"x")
    with pytest.raises(StorageError):
        storage.get(key)
    assert storage.request_count == 0


def test_the_write_probe_passes_and_leaves_nothing_behind(storage: MarketStorage) -> None:
    result = probe_conditional_writes(storage)

    assert result.ok, result.reasons
    assert result.reasons == ()
    assert storage.exists("market.json") is False


@pytest.mark.needs_atomic_s3
def test_update_json_from_threads_loses_nothing(storage_spec: StorageSpec) -> None:
    def worker(number: int) -> None:
        storage = storage_spec.open()
        for index in range(10):
            entry = f"t{number}-{index}"

            def append(doc: dict[str, Any] | None, entry: str = entry) -> dict[str, Any]:
                doc = doc or {"entries": []}
                doc["entries"].append(entry)
                return doc

            update_json(storage, "apps/x/index.json", append, attempts=50)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    entries = read_entries(storage_spec.open(), "apps/x/index.json")
    assert sorted(entries) == sorted(f"t{n}-{i}" for n in range(4) for i in range(10))


@pytest.mark.slow
@pytest.mark.needs_atomic_s3
def test_update_json_from_eight_processes_loses_nothing(storage_spec: StorageSpec) -> None:
    """8 OS processes append 25 distinct entries each to one document: all 200 land,
    each exactly once."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=append_entries_worker, args=(storage_spec, "market.json", worker, 25)
        )
        for worker in range(8)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    assert [process.exitcode for process in processes] == [0] * 8

    entries = read_entries(storage_spec.open(), "market.json")
    expected = {f"w{worker}-{index}" for worker in range(8) for index in range(25)}
    assert len(entries) == 200
    assert set(entries) == expected
