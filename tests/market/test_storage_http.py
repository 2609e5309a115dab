"""The read-only HTTP(S) backend against a small static server on loopback."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from market import netguard
from market.storage import (
    NotFound,
    ReadOnlyStorage,
    StorageError,
    TransientStorageError,
    UnsafeLocation,
    open_storage,
)
from market.storage.http import HttpStorage
from market.storage.retry import RetryPolicy
from tests.market.storage_fixtures import MarketHTTPServer, Responder, _Handler

pytestmark = pytest.mark.usefixtures("loopback_only")

NO_WAIT = RetryPolicy(attempts=3, sleep=lambda _seconds: None)


def _storage(server: MarketHTTPServer, **kwargs: object) -> HttpStorage:
    kwargs.setdefault("allow_private_network", True)
    kwargs.setdefault("retry", NO_WAIT)
    return HttpStorage(server.url, **kwargs)  # type: ignore[arg-type]


def _publish(server: MarketHTTPServer, key: str, data: bytes) -> None:
    path = server.root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def other_host(tmp_path: Path) -> Iterator[MarketHTTPServer]:
    """A second server on another loopback address: "another host"."""
    root = tmp_path / "other"
    root.mkdir()
    server = MarketHTTPServer(root, host="127.0.0.2").start()
    yield server
    server.stop()


def _redirect(location: str, status: int = 302) -> Responder:
    def respond(handler: _Handler) -> None:
        handler.send(status, headers={"Location": location})

    return respond


def test_get_returns_the_body_and_the_server_etag(http_market: MarketHTTPServer) -> None:
    _publish(http_market, "apps/x/index.json", b'{"format": 1}')
    storage = _storage(http_market)

    blob = storage.get("apps/x/index.json")

    assert blob.data == b'{"format": 1}'
    assert blob.etag.startswith('"')
    assert http_market.requests[-1].path == "/apps/x/index.json"


def test_an_unchanged_market_costs_one_request_answered_304(
    http_market: MarketHTTPServer,
) -> None:
    _publish(http_market, "market.json", b'{"serial": 1}')
    storage = _storage(http_market)
    etag = storage.get("market.json").etag
    before = storage.request_count

    assert storage.get_if_changed("market.json", etag) is None

    assert storage.request_count - before == 1
    assert len(http_market.requests) == 2
    assert http_market.requests[-1].headers["If-None-Match"] == etag
    assert http_market.requests[-1].headers["Cache-Control"] == "no-cache"


def test_a_changed_market_is_fetched_again(http_market: MarketHTTPServer) -> None:
    _publish(http_market, "market.json", b'{"serial": 1}')
    storage = _storage(http_market)
    etag = storage.get("market.json").etag
    _publish(http_market, "market.json", b'{"serial": 2}')

    blob = storage.get_if_changed("market.json", etag)

    assert blob is not None and blob.data == b'{"serial": 2}'
    assert blob.etag != etag


def test_without_server_etags_the_content_hash_decides(tmp_path: Path) -> None:
    server = MarketHTTPServer(tmp_path, etags=False).start()
    try:
        _publish(server, "market.json", b"{}")
        storage = _storage(server)
        etag = storage.get("market.json").etag
        assert etag == "sha256:" + hashlib.sha256(b"{}").hexdigest()

        assert storage.get_if_changed("market.json", etag) is None
        assert "If-None-Match" not in server.requests[-1].headers
        _publish(server, "market.json", b'{"serial": 2}')
        assert storage.get_if_changed("market.json", etag) is not None
    finally:
        server.stop()


def test_missing_objects_are_not_found(http_market: MarketHTTPServer) -> None:
    _publish(http_market, "market.json", b"{}")
    storage = _storage(http_market)

    with pytest.raises(NotFound):
        storage.get("apps/nope/index.json")
    assert storage.exists("apps/nope/index.json") is False
    assert storage.exists("market.json") is True
    assert http_market.requests[-1].method == "HEAD"


def test_keys_are_quoted_into_the_url(http_market: MarketHTTPServer) -> None:
    storage = _storage(http_market)
    with pytest.raises(NotFound):
        storage.get("apps/a b?#/x.json")
    assert http_market.requests[-1].path == "/apps/a%20b%3F%23/x.json"


def test_the_http_backend_is_read_only(http_market: MarketHTTPServer) -> None:
    storage = _storage(http_market)
    assert storage.writable is False
    with pytest.raises(ReadOnlyStorage):
        storage.put_new("market.json", b"{}")
    with pytest.raises(ReadOnlyStorage):
        open_storage(http_market.url, writable=True, allow_private_network=True)
    assert http_market.requests == []


def test_a_loopback_market_needs_the_allow_flag(http_market: MarketHTTPServer) -> None:
    _publish(http_market, "market.json", b"{}")

    with pytest.raises(UnsafeLocation, match="loopback"):
        _storage(http_market, allow_private_network=False)
    with pytest.raises(UnsafeLocation, match="loopback"):
        open_storage(f"http://[::1]:{http_market.port}/")
    assert http_market.requests == []

    assert _storage(http_market).get("market.json").data == b"{}"


def test_a_name_for_a_loopback_market_is_refused_when_connecting(
    http_market: MarketHTTPServer, fake_dns: dict[str, list[str]]
) -> None:
    fake_dns["market.example"] = ["127.0.0.1"]
    storage = HttpStorage(f"http://market.example:{http_market.port}/", retry=NO_WAIT)

    with pytest.raises(UnsafeLocation, match="loopback"):
        storage.get("market.json")
    assert http_market.requests == []


def test_same_host_redirects_are_followed_and_counted(http_market: MarketHTTPServer) -> None:
    _publish(http_market, "v2/market.json", b"{}")
    http_market.routes["/market.json"] = _redirect("/moved/market.json", 301)
    http_market.routes["/moved/market.json"] = _redirect(http_market.url + "v2/market.json", 307)
    storage = _storage(http_market)

    assert storage.get("market.json").data == b"{}"
    assert storage.request_count == 3


def test_more_than_five_redirects_are_refused(http_market: MarketHTTPServer) -> None:
    http_market.routes["/market.json"] = _redirect("/market.json")
    storage = _storage(http_market)

    with pytest.raises(StorageError, match="more than 5 redirects"):
        storage.get("market.json")
    assert len(http_market.requests) == 6


def test_a_redirect_to_another_host_is_refused_and_never_followed(
    http_market: MarketHTTPServer, other_host: MarketHTTPServer
) -> None:
    _publish(other_host, "market.json", b"{}")
    http_market.routes["/market.json"] = _redirect(other_host.url + "market.json")
    storage = _storage(http_market, token="s3cr3t-token")

    with pytest.raises(UnsafeLocation, match="another host"):
        storage.get("market.json")

    assert http_market.requests[0].headers["Authorization"] == "Bearer s3cr3t-token"
    assert other_host.requests == []  # the token never left for the other host


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/market.json",
        "http://127.0.0.1:1/market.json",
        "http://localhost/market.json",
        "file:///etc/passwd",
    ],
)
def test_redirects_inward_are_refused(http_market: MarketHTTPServer, target: str) -> None:
    http_market.routes["/market.json"] = _redirect(target)

    with pytest.raises(UnsafeLocation):
        _storage(http_market).get("market.json")


def test_a_same_host_redirect_is_checked_again_when_the_name_rebinds(
    http_market: MarketHTTPServer,
    fake_dns: dict[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    loopback_only: list[str],
) -> None:
    """The market's name resolves to an allowed address for the first request; the
    redirect (same name) then resolves inward and is refused before connecting."""
    stand_in = netguard.ipaddress.ip_address("127.0.0.1")
    real = netguard.address_refusal
    monkeypatch.setattr(
        netguard,
        "address_refusal",
        lambda ip, *, allow_private: None if ip == stand_in else real(ip, allow_private=False),
    )
    fake_dns["market.example"] = ["127.0.0.1"]

    def rebind_then_redirect(handler: _Handler) -> None:
        fake_dns["market.example"] = ["10.0.0.1"]
        handler.send(302, headers={"Location": "/real/market.json"})

    http_market.routes["/market.json"] = rebind_then_redirect
    storage = HttpStorage(f"http://market.example:{http_market.port}/", retry=NO_WAIT)

    with pytest.raises(UnsafeLocation, match=r"10\.0\.0\.1 is a private address"):
        storage.get("market.json")
    assert [r.path for r in http_market.requests] == ["/market.json"]
    assert loopback_only == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("http://m.example/a", "https://m.example/a", True),  # upgrade
        ("https://m.example/a", "http://m.example/a", False),  # downgrade
        ("https://m.example/a", "https://M.EXAMPLE/b", True),
        ("https://m.example/a", "https://m.example:8443/a", False),
        ("https://m.example/a", "https://cdn.example/a", False),
        ("https://m.example/a", "https://m.example.evil.org/a", False),
    ],
)
def test_redirect_rules(current: str, target: str, allowed: bool) -> None:
    storage = HttpStorage("https://m.example/", retry=NO_WAIT)
    if allowed:
        assert storage._redirect_target(current, target) == target
    else:
        with pytest.raises(UnsafeLocation):
            storage._redirect_target(current, target)


def test_basic_credentials_in_the_url_are_used_and_never_shown(
    http_market: MarketHTTPServer,
) -> None:
    _publish(http_market, "market.json", b"{}")
    url = f"http://reader:pa%40ss@127.0.0.1:{http_market.port}/"
    storage = open_storage(url, allow_private_network=True)

    storage.get("market.json")

    assert http_market.requests[-1].headers["Authorization"].startswith("Basic ")
    assert "pa" not in storage.describe() and "reader" not in storage.describe()
    assert "reader" not in repr(storage)


def test_server_errors_are_retried_then_succeed(http_market: MarketHTTPServer) -> None:
    _publish(http_market, "market.json", b"{}")
    failures = [503, 502]

    def flaky(handler: _Handler) -> None:
        if failures:
            handler.send(failures.pop(0), b"busy")
        else:
            http_market.serve_file(handler)

    http_market.routes["/market.json"] = flaky
    storage = _storage(http_market)

    assert storage.get("market.json").data == b"{}"
    assert storage.request_count == 3


def test_server_errors_give_up_after_the_bound(http_market: MarketHTTPServer) -> None:
    http_market.routes["/market.json"] = lambda handler: handler.send(500, b"broken")
    storage = _storage(http_market)

    with pytest.raises(TransientStorageError, match="gave up after 3 attempts"):
        storage.get("market.json")
    assert len(http_market.requests) == 3


def test_client_errors_are_not_retried(http_market: MarketHTTPServer) -> None:
    http_market.routes["/market.json"] = lambda handler: handler.send(403, b"no")
    storage = _storage(http_market)

    with pytest.raises(StorageError, match="denied"):
        storage.get("market.json")
    assert len(http_market.requests) == 1


def test_a_body_over_the_size_limit_is_refused(http_market: MarketHTTPServer) -> None:
    _publish(http_market, "big.tgz", b"x" * 5000)

    def unannounced(handler: _Handler) -> None:
        # No Content-Length: the limit must hold while reading too.
        handler.send_response(200)
        handler.end_headers()
        handler.wfile.write(b"y" * 5000)

    http_market.routes["/streamed.tgz"] = unannounced
    storage = _storage(http_market, max_bytes=4096)

    with pytest.raises(StorageError, match="larger than 4096 bytes"):
        storage.get("big.tgz")
    with pytest.raises(StorageError, match="larger than 4096 bytes"):
        storage.get("streamed.tgz")


def test_an_unreachable_server_is_transient(http_market: MarketHTTPServer) -> None:
    port = http_market.port
    http_market.stop()
    storage = HttpStorage(f"http://127.0.0.1:{port}/", allow_private_network=True, retry=NO_WAIT)

    with pytest.raises(TransientStorageError, match="gave up after 3 attempts"):
        storage.get("market.json")
    assert storage.request_count == 3
