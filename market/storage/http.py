"""A market read over HTTP(S): any static web server, CDN, or another portal's
``/markets/<name>/``. Read-only.

- Conditional GET: ``If-None-Match`` with the ETag seen last; 304 means unchanged, so
  an unchanged ``market.json`` costs one request. A server that sends no ETag gets a
  ``sha256:`` ETag computed from the body, and "unchanged" is decided by comparing it.
- Every connection goes through the network guard (:mod:`market.netguard`).
- Redirects are followed by hand, at most ``MAX_REDIRECTS``, and only on the same
  host (``http`` -> ``https`` upgrades allowed, downgrades not); a redirect to
  another host is refused, so credentials can only ever reach the market's own host.
- Timeouts per connect/read, a deadline for the whole body, a cap on its size.
- 5xx, 429, timeouts and dropped connections are retried (bounded, jittered);
  other statuses are final.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import requests

from market.netguard import check_literal_host, guarded_session
from market.storage.base import (
    Blob,
    MarketStorage,
    NotFound,
    ReadOnlyStorage,
    StorageError,
    TransientStorageError,
    UnsafeLocation,
)
from market.storage.retry import RetryPolicy

MAX_REDIRECTS = 5
# The largest archive a package may be is 100 MiB uncompressed (SPEC section 2);
# compressed it is smaller. Anything bigger is not a market object.
DEFAULT_MAX_BYTES = 110 * 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


class HttpStorage(MarketStorage):
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        allow_private_network: bool = False,
        timeout: tuple[float, float] = (5.0, 30.0),
        deadline: float = 300.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ca_bundle: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """``token`` is sent as ``Authorization: Bearer``; ``username``/``password``
        (or ``user:pass@`` in the URL) as basic auth. Never both."""
        super().__init__(writable=False)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StorageError("an HTTP market location must be http(s)://host/path")
        if parts.username is not None:
            if username is not None:
                raise StorageError("credentials given both in the URL and separately")
            username, password = unquote(parts.username), unquote(parts.password or "")
        if token is not None and username is not None:
            raise StorageError("give a token or a username and password, not both")
        check_literal_host(parts.hostname, allow_private=allow_private_network)
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        self.base_url = urlunsplit((parts.scheme, netloc, path, parts.query, ""))
        self._auth_header: str | None = None
        if token is not None:
            self._auth_header = f"Bearer {token}"
        self._basic = (username, password or "") if username is not None else None
        self._timeout = timeout
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._verify: bool | str = ca_bundle or True
        self._retry = retry or RetryPolicy()
        self._session = guarded_session(allow_private=allow_private_network)

    def describe(self) -> str:
        parts = urlsplit(self.base_url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))

    # --- operations ---------------------------------------------------------

    def _get(self, key: str) -> Blob:
        blob = self._fetch(key, etag=None)
        if blob is None:
            raise StorageError(f"GET {key}: 304 Not Modified to an unconditional request")
        return blob

    def _get_if_changed(self, key: str, etag: str) -> Blob | None:
        blob = self._fetch(key, etag=etag)
        if blob is not None and blob.etag == etag:
            return None  # A server without ETags: same content hash, same object.
        return blob

    def _exists(self, key: str) -> bool:
        try:
            self._fetch(key, etag=None, method="HEAD")
        except NotFound:
            return False
        return True

    def _put_new(self, key: str, data: bytes, content_type: str) -> str:
        raise ReadOnlyStorage(f"{self.describe()} is read-only")

    def _put_if_match(self, key: str, data: bytes, etag: str | None, content_type: str) -> str:
        raise ReadOnlyStorage(f"{self.describe()} is read-only")

    def _delete(self, key: str) -> None:
        raise ReadOnlyStorage(f"{self.describe()} is read-only")

    # --- helpers ------------------------------------------------------------

    def _url(self, key: str) -> str:
        parts = urlsplit(self.base_url)
        path = parts.path + "/".join(quote(part, safe="") for part in key.split("/"))
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))

    def _fetch(self, key: str, *, etag: str | None, method: str = "GET") -> Blob | None:
        headers = {"Accept-Encoding": "gzip" if key.endswith(".json") else "identity"}
        if key.endswith(".json"):
            # Documents change in place: make caches on the way revalidate them.
            headers["Cache-Control"] = "no-cache"
        if etag is not None and not etag.startswith("sha256:"):
            headers["If-None-Match"] = etag
        return self._retry.call(lambda: self._attempt(method, key, headers))

    def _attempt(self, method: str, key: str, headers: Mapping[str, str]) -> Blob | None:
        """One request, following same-host redirects; returns None on 304."""
        url = self._url(key)
        started = time.monotonic()
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send(method, url, headers, key)
            with response:
                status = response.status_code
                if status in _REDIRECTS and "Location" in response.headers:
                    url = self._redirect_target(url, response.headers["Location"])
                    continue
                if status == 304:
                    return None
                if status in (404, 410):
                    raise NotFound(f"{key} not found at {self.describe()}")
                if status >= 500 or status == 429:
                    raise TransientStorageError(f"{method} {key}: server answered {status}")
                if status in (401, 403):
                    raise StorageError(f"access to {key} at {self.describe()} denied ({status})")
                if status != 200:
                    raise StorageError(f"{method} {key}: unexpected status {status}")
                data = b"" if method == "HEAD" else self._read_body(response, key, started)
                etag = response.headers.get("ETag") or (
                    "sha256:" + hashlib.sha256(data).hexdigest()
                )
                return Blob(data=data, etag=etag)
        raise StorageError(f"{method} {key}: more than {MAX_REDIRECTS} redirects")

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], key: str
    ) -> requests.Response:
        request_headers = dict(headers)
        auth = None
        # Only ever to the market's own host; _redirect_target keeps us there too.
        if _same_host(self.base_url, url):
            if self._auth_header is not None:
                request_headers["Authorization"] = self._auth_header
            auth = self._basic
        self._count_request()
        try:
            return self._session.request(
                method,
                url,
                headers=request_headers,
                auth=auth,
                allow_redirects=False,
                stream=True,
                timeout=self._timeout,
                verify=self._verify,
            )
        except requests.exceptions.SSLError as error:
            raise StorageError(f"TLS error fetching {key} from {self.describe()}") from error
        except (requests.ConnectionError, requests.Timeout) as error:
            raise TransientStorageError(f"{method} {key}: {type(error).__name__}") from error
        except requests.RequestException as error:
            raise StorageError(f"{method} {key}: {type(error).__name__}") from error

    def _redirect_target(self, current: str, location: str) -> str:
        target = urljoin(current, location)
        before, after = urlsplit(current), urlsplit(target)
        if after.scheme not in ("http", "https"):
            raise UnsafeLocation(f"refusing a redirect to a {after.scheme!r} URL")
        if not _same_host(current, target):
            raise UnsafeLocation(
                f"refusing a redirect from {before.hostname} to another host ({after.hostname})"
            )
        if before.scheme == "https" and after.scheme == "http":
            raise UnsafeLocation("refusing a redirect from https to http")
        return target

    def _read_body(self, response: requests.Response, key: str, started: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise StorageError(f"{key} is larger than {self._max_bytes} bytes")
        chunks: list[bytes] = []
        total = 0
        try:
            # Decoded bytes are counted, so a gzip bomb stops at the cap too.
            for chunk in response.iter_content(_CHUNK):
                total += len(chunk)
                if total > self._max_bytes:
                    raise StorageError(f"{key} is larger than {self._max_bytes} bytes")
                if time.monotonic() - started > self._deadline:
                    raise TransientStorageError(
                        f"GET {key}: took longer than {self._deadline:.0f}s"
                    )
                chunks.append(chunk)
        except requests.RequestException as error:
            raise TransientStorageError(
                f"GET {key}: connection broke mid-body ({type(error).__name__})"
            ) from error
        return b"".join(chunks)


def _same_host(a: str, b: str) -> bool:
    """Same host name and port, counting ``http://h`` -> ``https://h`` (default ports)
    as the same host: servers commonly upgrade that way."""
    first, second = urlsplit(a), urlsplit(b)
    if (first.hostname or "").lower() != (second.hostname or "").lower():
        return False
    if first.scheme == second.scheme:
        return _port(first.scheme, first.port) == _port(second.scheme, second.port)
    return (
        first.scheme == "http"
        and second.scheme == "https"
        and _port("http", first.port) == 80
        and _port("https", second.port) == 443
    )


def _port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)
