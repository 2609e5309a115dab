"""Fixtures and helpers for the market storage tests.

- ``moto_endpoint``: an S3 endpoint -- ``S3_ENDPOINT_URL`` when set (scripts/services.sh),
  else a ``moto_server`` this session starts on a free loopback port and stops;
- ``storage_spec``: parametrised over ``local`` and ``s3``, a fresh empty market (a
  temp directory or a new bucket) that tests open, and child processes re-open;
- ``MarketHTTPServer``: a threaded static server with ETag / If-None-Match, request
  log and scripted responses (redirects, errors);
- ``FlakyProxy``: answers 503 SlowDown a given number of times, then forwards to S3.

All servers listen on 127.0.0.x only. Tests never send traffic anywhere else:
``loopback_only`` makes any attempt to connect elsewhere fail the test.
"""

from __future__ import annotations

import hashlib
import http.server
import ipaddress
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from urllib3.util import connection as urllib3_connection

from market.storage.base import MarketStorage
from market.storage.cas import load_json, update_json
from market.storage.factory import open_storage

# --- S3 ------------------------------------------------------------------------


def s3_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    }


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen[bytes] | None, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"moto_server exited with status {process.returncode}")
        try:
            # moto loads its backends on the first request: slow on a busy machine.
            requests.get(url, timeout=10)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds}s")


# moto checks a PutObject's If-None-Match / If-Match and then stores the object
# without a lock, so two concurrent conditional writes can both succeed
# (test_storage_s3.py proves it). AWS S3 decides them atomically. The moto this suite
# starts (scripts/s3_server.py) handles one request at a time, so contention tests exercise our code
# against S3's guarantee instead of tripping over moto's race.
S3_SERVER = Path(__file__).resolve().parents[2] / "scripts" / "s3_server.py"


def _start_moto() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(S3_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_http(endpoint, process, 90)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``S3_ENDPOINT_URL`` when set, else a moto server started for this session.

    For a moto of its own it also provides the usual AWS variables (if unset), as
    scripts/services.sh does, so code that takes credentials from the environment
    works against it."""
    external = os.environ.get("S3_ENDPOINT_URL")
    if external:
        yield external.rstrip("/")
        return
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ):
            if name not in os.environ:
                patch.setenv(name, value)
        yield from _start_moto()


@pytest.fixture(scope="session")
def atomic_s3_endpoint(moto_endpoint: str) -> Iterator[str]:
    """An S3 endpoint whose conditional writes are atomic, for contention tests:
    the session's own moto, or one started for them when ``S3_ENDPOINT_URL`` points
    at an endpoint not known to be atomic (services.sh runs scripts/s3_server.py and
    says so with ``S3_ENDPOINT_ATOMIC=1``; set it too for a real S3 or MinIO)."""
    if not os.environ.get("S3_ENDPOINT_URL") or os.environ.get("S3_ENDPOINT_ATOMIC"):
        yield moto_endpoint
        return
    yield from _start_moto()


def s3_client(endpoint: str) -> Any:
    credentials = s3_credentials()
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials["aws_access_key_id"],
        aws_secret_access_key=credentials["aws_secret_access_key"],
    )


def new_bucket(endpoint: str) -> str:
    name = f"market-test-{uuid.uuid4().hex[:16]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def drop_bucket(endpoint: str, bucket: str) -> None:
    client = s3_client(endpoint)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def bucket_keys(endpoint: str, bucket: str) -> list[str]:
    response = s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in response.get("Contents", []))


# --- one market, on either backend ---------------------------------------------


@dataclass(frozen=True)
class StorageSpec:
    """Everything needed to open one test market, picklable for child processes."""

    kind: str
    location: str
    endpoint_url: str | None = None
    credentials: dict[str, str] | None = None

    def open(self, *, writable: bool = True) -> MarketStorage:
        return open_storage(
            self.location,
            writable=writable,
            endpoint_url=self.endpoint_url,
            credentials=self.credentials,
            allow_private_network=True,  # moto and test servers live on loopback
        )


@pytest.fixture(params=["local", "s3"])
def storage_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageSpec]:
    if request.param == "local":
        yield StorageSpec("local", str(tmp_path / "market"))
        return
    atomic = request.node.get_closest_marker("needs_atomic_s3") is not None
    endpoint = request.getfixturevalue("atomic_s3_endpoint" if atomic else "moto_endpoint")
    bucket = new_bucket(endpoint)
    yield StorageSpec("s3", f"s3://{bucket}/markets/test", endpoint, s3_credentials())
    drop_bucket(endpoint, bucket)


@pytest.fixture
def storage(storage_spec: StorageSpec) -> MarketStorage:
    return storage_spec.open()


def append_entries_worker(spec: StorageSpec, key: str, worker: int, count: int) -> None:
    """Child-process body of the contention test: append ``count`` distinct entries to
    ``entries`` of the document at ``key``, one update_json each."""
    storage = spec.open()
    for index in range(count):
        entry = f"w{worker}-{index}"

        def append(doc: dict[str, Any] | None, entry: str = entry) -> dict[str, Any]:
            doc = doc or {"entries": []}
            doc["entries"].append(entry)
            return doc

        # Eight writers in a tight loop are far past any real publish rate; under it
        # the unluckiest update needed 13 attempts on moto, so allow more than 10.
        update_json(storage, key, append, attempts=50)


def read_entries(storage: MarketStorage, key: str) -> list[str]:
    return list(load_json(storage.get(key).data, key=key)["entries"])


# --- never leave loopback -------------------------------------------------------


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail, before connecting, any connection to a non-loopback address; returns
    the addresses connected to."""
    real = urllib3_connection.create_connection
    seen: list[str] = []

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host = address[0].strip("[]")
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            ip = ipaddress.ip_address(socket.gethostbyname(host))
        if not ip.is_loopback:
            raise AssertionError(f"test tried to connect to {ip}: only loopback is allowed")
        seen.append(str(ip))
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3_connection, "create_connection", create_connection)
    return seen


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names -> addresses the resolver returns; edit the dict during a test to rebind.
    Other names resolve normally."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        port = int(port or 0)
        if name in table:
            results: list[tuple[Any, ...]] = []
            for address in table[name]:
                if ":" in address:
                    results.append(
                        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
                    )
                else:
                    results.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
            return results
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


# --- a static market over HTTP ------------------------------------------------------

Responder = Callable[["_Handler"], None]


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so each request resolves and connects anew.
    protocol_version = "HTTP/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(SeenRequest(self.command, self.path, dict(self.headers)))
        responder = owner.routes.get(self.path.split("?", 1)[0])
        if responder is not None:
            responder(self)
            return
        owner.serve_file(self)

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        all_headers = {"Content-Length": str(len(body)), **(headers or {})}
        for name, value in all_headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: MarketHTTPServer


@dataclass
class MarketHTTPServer:
    """Serves ``root`` at ``http://<host>:<port>/``; ``etags=False`` omits ETags."""

    root: Path
    host: str = "127.0.0.1"
    etags: bool = True
    routes: dict[str, Responder] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server = _Server((self.host, 0), _Handler)
        self._server.owner = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> MarketHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_file(self, handler: _Handler) -> None:
        relative = handler.path.split("?", 1)[0].lstrip("/")
        path = self.root / relative
        if ".." in relative.split("/") or not path.is_file():
            handler.send(404, b"not found")
            return
        body = path.read_bytes()
        headers = {"Content-Type": "application/octet-stream"}
        if self.etags:
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            headers["ETag"] = etag
            if handler.headers.get("If-None-Match") == etag:
                handler.send(304, headers={"ETag": etag, "Content-Length": "0"})
                return
        handler.send(200, body, headers)


@pytest.fixture
def http_market(tmp_path: Path) -> Iterator[MarketHTTPServer]:
    root = tmp_path / "served"
    root.mkdir()
    server = MarketHTTPServer(root).start()
    yield server
    server.stop()


# --- S3 with faults in front ---------------------------------------------------------


class FlakyProxy:
    """Forwards requests to ``upstream``, but answers ``fail_next`` of them first with
    503 SlowDown. ``seen`` counts every request that arrived."""

    SLOW_DOWN = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        b"<Message>Please reduce your request rate.</Message></Error>"
    )

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.fail_next = 0
        self.seen = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    proxy.seen += 1
                    fail = proxy.fail_next > 0
                    proxy.fail_next -= 1 if fail else 0
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(FlakyProxy.SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(FlakyProxy.SLOW_DOWN)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                response = requests.request(
                    self.command,
                    proxy.upstream + self.path,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    timeout=30,
                )
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.content)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _any

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def flaky_s3(moto_endpoint: str) -> Iterator[tuple[FlakyProxy, str]]:
    """A FlakyProxy in front of S3 and a fresh bucket behind it."""
    bucket = new_bucket(moto_endpoint)
    proxy = FlakyProxy(moto_endpoint)
    yield proxy, bucket
    proxy.stop()
    drop_bucket(moto_endpoint, bucket)


def write_and_hang_before_rename(root: str, key: str, mode: str, marker: str) -> None:
    """Child-process body of the kill test: start a local write and stop for good
    once the bytes are in the temp file, before it gets its final name."""
    from market.storage import local

    def hang(fd: int) -> None:
        os.fsync(fd)
        Path(marker).touch()
        time.sleep(3600)

    local._fsync = hang
    storage = local.LocalStorage(root, writable=True)
    data = b"new content " * 100_000
    if mode == "put_new":
        storage.put_new(key, data)
    else:
        storage.put_if_match(key, data, storage.get(key).etag)
