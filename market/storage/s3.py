"""A market in an S3 bucket, or any S3-compatible store (MinIO, Aliyun OSS, Ceph RGW).

Create-only is ``PutObject`` with ``If-None-Match: *`` and compare-and-swap is
``PutObject`` with ``If-Match: <etag>`` (or ``If-None-Match: *`` for "must not exist
yet"): the store decides atomically, so writers on any number of hosts are safe. A
store that silently ignores the headers would break that; the write probe
(:mod:`market.storage.probe`) detects it before a market is opened for writing.

Failures are classified once, in :func:`_classify`:

- 412 -> ``AlreadyExists`` (create-only) / ``PreconditionFailed`` (CAS);
- 409 ``ConditionalRequestConflict`` (another conditional write to the same key was in
  flight) -> ``PreconditionFailed`` for CAS, which re-reads anyway; retried for
  create-only, where the repeat answers 412 or succeeds;
- 5xx, ``SlowDown``, 429, timeouts, dropped connections -> retried by our
  :class:`~market.storage.retry.RetryPolicy` (botocore's own retries are off, so
  exactly one policy is in force and ``request_count`` sees every attempt);
- anything else (403, missing bucket, bad credentials) -> ``StorageError`` at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from market.netguard import check_literal_host, guard_boto_client
from market.storage.base import (
    AlreadyExists,
    Blob,
    MarketStorage,
    NotFound,
    PreconditionFailed,
    StorageError,
    TransientStorageError,
    UnsafeLocation,
)
from market.storage.retry import RetryPolicy

T = TypeVar("T")

CREDENTIAL_KEYS = frozenset({"aws_access_key_id", "aws_secret_access_key", "aws_session_token"})
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling"}
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def parse_s3_url(location: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix/")``."""
    parts = urlsplit(location)
    if parts.scheme != "s3" or not parts.netloc:
        raise StorageError(f"not an s3://bucket/prefix location: {location!r}")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise StorageError("an s3:// location takes no credentials, query or fragment")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class S3Storage(MarketStorage):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        writable: bool = False,
        endpoint_url: str | None = None,
        region: str | None = None,
        credentials: Mapping[str, str] | None = None,
        allow_private_network: bool = False,
        addressing_style: Literal["auto", "virtual", "path"] = "auto",
        retry: RetryPolicy | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        """Credentials are ``aws_access_key_id``, ``aws_secret_access_key`` and
        optionally ``aws_session_token``; without them boto3's usual chain applies
        (``AWS_*`` variables, shared files, instance roles).

        An ``endpoint_url`` (MinIO, OSS, moto) is user-supplied, so its connections go
        through the network guard; AWS's own endpoints are not.
        """
        super().__init__(writable=writable)
        if not bucket:
            raise StorageError("S3 bucket name is empty")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self._retry = retry or RetryPolicy()
        unknown = set(credentials or {}) - CREDENTIAL_KEYS
        if unknown:
            raise StorageError(f"unknown S3 credential fields: {', '.join(sorted(unknown))}")
        if endpoint_url is not None:
            endpoint = urlsplit(endpoint_url)
            if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
                raise StorageError("the S3 endpoint URL must be http(s)://host[:port]")
            if endpoint.username or endpoint.password:
                raise StorageError("put S3 credentials in the credentials, not the endpoint URL")
            check_literal_host(endpoint.hostname, allow_private=allow_private_network)
        given = dict(credentials or {})
        session = boto3.session.Session(
            aws_access_key_id=given.get("aws_access_key_id"),
            aws_secret_access_key=given.get("aws_secret_access_key"),
            aws_session_token=given.get("aws_session_token"),
        )
        self._client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
            config=Config(
                # Our RetryPolicy is the only one: one attempt per botocore call.
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                s3={"addressing_style": addressing_style},
                # The CRC trailers boto3 adds by default since 1.36 are refused by
                # several S3-compatible stores; send checksums only where required.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        if endpoint_url is not None:
            guard_boto_client(self._client, allow_private=allow_private_network)
        # Counts every HTTP attempt botocore sends, whatever the outcome.
        self._client.meta.events.register("before-send.s3", self._on_send)

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        if self.endpoint_url:
            endpoint = urlsplit(self.endpoint_url)
            where += " at " + urlunsplit((endpoint.scheme, endpoint.netloc, endpoint.path, "", ""))
        return where

    # --- operations ---------------------------------------------------------

    def _get(self, key: str) -> Blob:
        blob = self._call(key, "read", lambda: self._get_object(key, {}))
        assert blob is not None
        return blob

    def _get_if_changed(self, key: str, etag: str) -> Blob | None:
        return self._call(key, "read", lambda: self._get_object(key, {"IfNoneMatch": etag}))

    def _put_new(self, key: str, data: bytes, content_type: str) -> str:
        return self._call(
            key,
            "create",
            lambda: self._put_object(key, data, content_type, {"IfNoneMatch": "*"}),
        )

    def _put_if_match(self, key: str, data: bytes, etag: str | None, content_type: str) -> str:
        condition: dict[str, Any] = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        return self._call(key, "swap", lambda: self._put_object(key, data, content_type, condition))

    def _delete(self, key: str) -> None:
        self._call(
            key,
            "delete",
            lambda: self._client.delete_object(Bucket=self.bucket, Key=self._key(key)),
        )

    def _exists(self, key: str) -> bool:
        try:
            self._call(
                key,
                "read",
                lambda: self._client.head_object(Bucket=self.bucket, Key=self._key(key)),
            )
        except NotFound:
            return False
        return True

    # --- helpers ------------------------------------------------------------

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _on_send(self, **_kwargs: Any) -> None:
        self._count_request()

    def _get_object(self, key: str, conditions: dict[str, Any]) -> Blob | None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key), **conditions)
        except ClientError as error:
            if _status(error) == 304:
                return None
            raise
        body = response["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        return Blob(data=data, etag=response["ETag"])

    def _put_object(
        self, key: str, data: bytes, content_type: str, conditions: dict[str, Any]
    ) -> str:
        response = self._client.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType=content_type,
            **conditions,
        )
        return str(response["ETag"])

    def _call(self, key: str, operation: str, request: Callable[[], T]) -> T:
        """Run one S3 request under the retry policy, translating every failure."""

        def attempt() -> T:
            try:
                return request()
            except (ClientError, BotoCoreError) as error:
                raise _classify(error, key=key, operation=operation, where=self.describe()) from (
                    error
                )

        return self._retry.call(attempt)


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _classify(error: Exception, *, key: str, operation: str, where: str) -> StorageError:
    if isinstance(error, HTTPClientError):
        cause = error.kwargs.get("error")
        if isinstance(cause, UnsafeLocation):
            return cause
    if isinstance(error, SSLError):
        return StorageError(f"TLS error talking to {where}: {error}")
    if isinstance(error, NoCredentialsError):
        return StorageError(f"no S3 credentials for {where}")
    if isinstance(error, HTTPClientError | BotoConnectionError | IncompleteReadError):
        return TransientStorageError(f"{operation} {key}: {error}")
    if not isinstance(error, ClientError):
        return StorageError(f"{operation} {key} on {where}: {error}")

    status = _status(error)
    code = str(error.response.get("Error", {}).get("Code", ""))
    if status == 412 or code == "PreconditionFailed":
        if operation == "create":
            return AlreadyExists(f"{key} already exists in {where}")
        return PreconditionFailed(f"{key} changed since it was read ({where})")
    if code == "ConditionalRequestConflict" or status == 409:
        # Another conditional write to the key was in flight. A swap re-reads anyway;
        # a create asked again gets 412 (it landed) or succeeds (it did not).
        if operation == "swap":
            return PreconditionFailed(f"{key} is being written concurrently ({where})")
        if operation == "create":
            return TransientStorageError(f"concurrent write to {key} in {where}")
    if code in _NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket"):
        if operation == "swap":
            # If-Match on an object that is gone: it changed since it was read.
            return PreconditionFailed(f"{key} was removed since it was read ({where})")
        return NotFound(f"{key} not found in {where}")
    if code == "NoSuchBucket":
        return StorageError(f"bucket {where} does not exist")
    if status >= 500 or status == 429 or code in _TRANSIENT_CODES:
        return TransientStorageError(f"{operation} {key}: S3 answered {status} {code}")
    if status in (401, 403):
        return StorageError(f"access denied to {key} in {where} ({code or status})")
    return StorageError(f"{operation} {key} in {where} failed: {status} {code}")
