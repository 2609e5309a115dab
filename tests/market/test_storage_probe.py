"""The write probe must refuse any storage that does not enforce its conditions."""

from __future__ import annotations

from pathlib import Path

from market.storage import Blob, MarketStorage, NotFound, probe_conditional_writes
from market.storage.local import LocalStorage, content_etag


class NonEnforcingStorage(MarketStorage):
    """A deliberately broken fake: a store that accepts every write, conditions or
    not -- what an S3-compatible store that ignores If-None-Match / If-Match does."""

    def __init__(self, *, create_only: bool = False) -> None:
        super().__init__(writable=True)
        self.objects: dict[str, bytes] = {}
        self.enforce_create_only = create_only

    def describe(self) -> str:
        return "non-enforcing fake"

    def _get(self, key: str) -> Blob:
        if key not in self.objects:
            raise NotFound(key)
        return Blob(self.objects[key], content_etag(self.objects[key]))

    def _get_if_changed(self, key: str, etag: str) -> Blob | None:
        blob = self._get(key)
        return None if blob.etag == etag else blob

    def _put_new(self, key: str, data: bytes, content_type: str) -> str:
        if self.enforce_create_only and key in self.objects:
            from market.storage import AlreadyExists

            raise AlreadyExists(key)
        self.objects[key] = data
        return content_etag(data)

    def _put_if_match(self, key: str, data: bytes, etag: str | None, content_type: str) -> str:
        self.objects[key] = data  # the condition is ignored
        return content_etag(data)

    def _delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def _exists(self, key: str) -> bool:
        return key in self.objects


def test_a_store_that_ignores_conditions_fails_the_probe() -> None:
    storage = NonEnforcingStorage()

    result = probe_conditional_writes(storage)

    assert result.ok is False
    text = " | ".join(result.reasons)
    assert "create-only write not enforced" in text
    assert "'must not exist' write not enforced" in text
    assert "stale ETag succeeded" in text
    assert storage.objects == {}  # cleaned up all the same


def test_enforcing_create_only_but_not_compare_and_swap_still_fails() -> None:
    result = probe_conditional_writes(NonEnforcingStorage(create_only=True))

    assert result.ok is False
    assert not any("create-only" in reason for reason in result.reasons)
    assert any("stale ETag" in reason for reason in result.reasons)


def test_a_read_only_storage_fails_the_probe_without_writing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, writable=False)

    result = probe_conditional_writes(storage)

    assert result.ok is False
    assert result.reasons == (f"local directory {tmp_path} is not writable",)
    assert list(tmp_path.iterdir()) == []


def test_the_probe_cleans_up_under_its_own_prefix(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, writable=True)

    assert probe_conditional_writes(storage).ok

    # Nothing left in the market root: no probe object, no empty folder.
    assert not (tmp_path / ".probe").exists()


def test_a_storage_error_mid_probe_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / ".probe").write_bytes(b"a file where the probe wants a folder")
    storage = LocalStorage(tmp_path, writable=True)

    result = probe_conditional_writes(storage)

    assert result.ok is False
    assert result.reasons[0].startswith("probe could not complete")
