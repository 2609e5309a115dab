"""update_json: the read-modify-write loop every index.json / market.json change uses.
(Contention across threads and processes is in the contract suite.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from market.storage import (
    ConflictRetriesExhausted,
    StorageError,
    dump_json,
    update_json,
)
from market.storage.local import LocalStorage


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path, writable=True)


def test_creates_the_document_when_missing(local: LocalStorage) -> None:
    received: list[Any] = []

    def create(doc: dict[str, Any] | None) -> dict[str, Any]:
        received.append(doc)
        return {"format": 1, "serial": 1}

    doc, etag = update_json(local, "market.json", create)

    assert received == [None]
    assert doc == {"format": 1, "serial": 1}
    assert local.get("market.json").etag == etag
    assert json.loads(local.get("market.json").data) == doc


def test_applies_the_change_to_what_is_stored(local: LocalStorage) -> None:
    local.put_new("market.json", dump_json({"serial": 4, "apps": {}}))

    def bump(doc: dict[str, Any] | None) -> dict[str, Any]:
        assert doc is not None
        doc["serial"] += 1
        return doc

    doc, _etag = update_json(local, "market.json", bump)

    assert doc == {"serial": 5, "apps": {}}
    assert json.loads(local.get("market.json").data)["serial"] == 5


def test_writes_nothing_when_the_document_does_not_change(local: LocalStorage) -> None:
    etag = local.put_new("market.json", b'{"serial": 4}')
    requests_before = local.request_count

    doc, returned = update_json(local, "market.json", lambda doc: doc or {})

    assert local.request_count - requests_before == 1  # the read, no write
    assert doc == {"serial": 4}
    assert returned == etag
    assert local.get("market.json").data == b'{"serial": 4}'  # not even reformatted


def test_a_concurrent_change_is_reread_and_kept(tmp_path: Path) -> None:
    ours = LocalStorage(tmp_path, writable=True)
    theirs = LocalStorage(tmp_path, writable=True)
    ours.put_new("apps/x/index.json", dump_json({"versions": {}}))
    seen: list[dict[str, Any]] = []
    waits: list[float] = []

    def add_ours(doc: dict[str, Any] | None) -> dict[str, Any]:
        assert doc is not None
        seen.append(json.loads(json.dumps(doc)))
        if len(seen) == 1:
            # Another platform publishes between our read and our write.
            blob = theirs.get("apps/x/index.json")
            other = json.loads(blob.data)
            other["versions"]["1.0.0"] = "theirs"
            theirs.put_if_match("apps/x/index.json", dump_json(other), blob.etag)
        doc["versions"]["1.1.0"] = "ours"
        return doc

    doc, _etag = update_json(ours, "apps/x/index.json", add_ours, sleep=waits.append)

    assert seen == [{"versions": {}}, {"versions": {"1.0.0": "theirs"}}]
    assert doc == {"versions": {"1.0.0": "theirs", "1.1.0": "ours"}}
    assert json.loads(ours.get("apps/x/index.json").data) == doc
    assert len(waits) == 1 and 0 <= waits[0] <= 0.05


def test_gives_up_with_a_clear_error_when_always_beaten(tmp_path: Path) -> None:
    ours = LocalStorage(tmp_path, writable=True)
    theirs = LocalStorage(tmp_path, writable=True)
    ours.put_new("market.json", dump_json({"serial": 0}))
    waits: list[float] = []

    def always_beaten(doc: dict[str, Any] | None) -> dict[str, Any]:
        assert doc is not None
        blob = theirs.get("market.json")
        serial = json.loads(blob.data)["serial"] + 1
        theirs.put_if_match("market.json", dump_json({"serial": serial}), blob.etag)
        return {"serial": -1}

    with pytest.raises(ConflictRetriesExhausted, match="after 4 attempts"):
        update_json(ours, "market.json", always_beaten, attempts=4, sleep=waits.append)

    assert len(waits) == 3
    assert json.loads(ours.get("market.json").data) == {"serial": 4}  # ours never landed


def test_an_error_in_mutate_aborts_without_writing(local: LocalStorage) -> None:
    local.put_new("market.json", b'{"serial": 1}')

    def refuse(doc: dict[str, Any] | None) -> dict[str, Any]:
        raise ValueError("version conflict")

    with pytest.raises(ValueError, match="version conflict"):
        update_json(local, "market.json", refuse)
    assert local.get("market.json").data == b'{"serial": 1}'


def test_a_stored_document_that_is_not_a_json_object_is_refused(local: LocalStorage) -> None:
    local.put_new("market.json", b"[1, 2]")
    local.put_new("broken.json", b"{not json")

    with pytest.raises(StorageError, match="not a JSON object"):
        update_json(local, "market.json", lambda doc: {})
    with pytest.raises(StorageError, match="not valid JSON"):
        update_json(local, "broken.json", lambda doc: {})


def test_mutate_must_return_a_dict(local: LocalStorage) -> None:
    with pytest.raises(TypeError):
        update_json(local, "market.json", lambda doc: None)  # type: ignore[arg-type,return-value]
    assert local.exists("market.json") is False


def test_a_custom_serialisation_is_what_gets_stored(local: LocalStorage) -> None:
    def compact(doc: dict[str, Any]) -> bytes:
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()

    update_json(local, "market.json", lambda doc: {"b": 1, "a": 2}, serialize=compact)

    assert local.get("market.json").data == b'{"a":2,"b":1}'


def test_dump_json_is_stable() -> None:
    assert dump_json({"b": 1, "a": "é"}) == dump_json({"a": "é", "b": 1})
    assert dump_json({"a": "é"}).decode("utf-8").endswith("\n")
