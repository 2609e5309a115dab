"""open_storage: from a market location string to the right backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from market.storage import ReadOnlyStorage, StorageError, open_storage
from market.storage.http import HttpStorage
from market.storage.local import LocalStorage
from market.storage.s3 import S3Storage


def test_a_path_is_a_local_market(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path), writable=True)
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path and storage.writable is True


def test_a_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    storage = open_storage("markets/main")
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path / "markets" / "main"


@pytest.mark.parametrize("prefix", ["file://", "file://localhost"])
def test_a_file_url_is_a_local_market(tmp_path: Path, prefix: str) -> None:
    storage = open_storage(f"{prefix}{tmp_path}/my%20market")
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path / "my market"
    assert storage.writable is False


def test_a_file_url_on_another_host_is_refused() -> None:
    with pytest.raises(StorageError, match="another host"):
        open_storage("file://fileserver/srv/market")


def test_an_s3_url_with_endpoint_and_credentials() -> None:
    storage = open_storage(
        "s3://ops-bucket/markets/main",
        writable=True,
        endpoint_url="https://oss-cn-hangzhou.aliyuncs.com",
        credentials={"aws_access_key_id": "AK", "aws_secret_access_key": "SK"},
    )
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == ("ops-bucket", "markets/main/")
    assert storage.describe() == (
        "s3://ops-bucket/markets/main/ at https://oss-cn-hangzhou.aliyuncs.com"
    )


@pytest.mark.parametrize("url", ["https://markets.example.org/main/", "http://m.example/"])
def test_an_http_url_is_a_read_only_market(url: str) -> None:
    storage = open_storage(url, credentials={"token": "t0k"})
    assert isinstance(storage, HttpStorage)
    assert storage.writable is False
    assert "t0k" not in storage.describe()


def test_an_http_market_cannot_be_opened_for_writing() -> None:
    with pytest.raises(ReadOnlyStorage):
        open_storage("https://markets.example.org/main/", writable=True)


@pytest.mark.parametrize(
    ("location", "options", "message"),
    [
        ("", {}, "empty"),
        ("ftp://host/market", {}, "unsupported market location scheme 'ftp'"),
        ("/srv/market", {"endpoint_url": "http://minio:9000"}, "only applies to s3"),
        ("/srv/market", {"credentials": {"token": "x"}}, "takes no credentials"),
        ("https://m.example/", {"credentials": {"secret": "x"}}, "unknown HTTP credential"),
        ("https://m.example/", {"credentials": {"token": "a", "username": "b"}}, "not both"),
        ("s3://b/p", {"endpoint_url": "minio:9000"}, "must be http"),
        ("s3://b/p", {"endpoint_url": "http://key:secret@minio:9000"}, "not the endpoint URL"),
    ],
)
def test_bad_locations_are_refused_with_a_reason(
    location: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(StorageError, match=message):
        open_storage(location, **options)  # type: ignore[arg-type]
