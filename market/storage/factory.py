"""One entry point from a market's location string to its storage backend."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from market.storage.base import MarketStorage, ReadOnlyStorage, StorageError
from market.storage.http import HttpStorage
from market.storage.local import LocalStorage
from market.storage.s3 import S3Storage, parse_s3_url

HTTP_CREDENTIAL_KEYS = frozenset({"token", "username", "password"})


def open_storage(
    location: str,
    *,
    writable: bool = False,
    endpoint_url: str | None = None,
    credentials: Mapping[str, str] | None = None,
    allow_private_network: bool = False,
) -> MarketStorage:
    """Open the market at ``location``:

    - a path or ``file:///path`` -> :class:`LocalStorage`;
    - ``s3://bucket/prefix`` -> :class:`S3Storage`; ``endpoint_url`` for MinIO, OSS
      and other S3-compatible stores; ``credentials`` with ``aws_access_key_id``,
      ``aws_secret_access_key`` (and ``aws_session_token``), else the usual AWS
      variables;
    - ``http(s)://...`` -> :class:`HttpStorage`, read-only; ``credentials`` with a
      ``token`` (bearer) or ``username`` and ``password`` (basic).

    Opening does no I/O: a wrong location shows on first use (or in the write probe).
    """
    location = location.strip()
    if not location:
        raise StorageError("market location is empty")
    scheme = urlsplit(location).scheme.lower()
    if endpoint_url and scheme != "s3":
        raise StorageError("an endpoint URL only applies to s3:// locations")

    if scheme == "s3":
        bucket, prefix = parse_s3_url(location)
        return S3Storage(
            bucket,
            prefix,
            writable=writable,
            endpoint_url=endpoint_url or None,
            credentials=credentials,
            allow_private_network=allow_private_network,
        )
    if scheme in ("http", "https"):
        if writable:
            raise ReadOnlyStorage("HTTP(S) markets are read-only; publish to its storage instead")
        creds = dict(credentials or {})
        unknown = set(creds) - HTTP_CREDENTIAL_KEYS
        if unknown:
            raise StorageError(f"unknown HTTP credential fields: {', '.join(sorted(unknown))}")
        return HttpStorage(
            location,
            token=creds.get("token"),
            username=creds.get("username"),
            password=creds.get("password"),
            allow_private_network=allow_private_network,
        )
    if credentials:
        raise StorageError("a local market takes no credentials")
    if scheme == "file":
        parts = urlsplit(location)
        if parts.netloc not in ("", "localhost"):
            raise StorageError(f"file:// URL names another host: {parts.netloc}")
        return LocalStorage(unquote(parts.path), writable=writable)
    if scheme and "://" in location:
        raise StorageError(f"unsupported market location scheme {scheme!r}")
    return LocalStorage(location, writable=writable)
