"""The SSRF guard: which addresses it refuses, that it judges the address actually
connected to (DNS rebinding), and that it sits under every connection.

Only loopback servers are ever contacted; other addresses come from a faked resolver
and ``loopback_only`` fails any test that would really connect to one."""

from __future__ import annotations

import ipaddress

import pytest
import requests

from market import netguard
from market.netguard import address_refusal, check_literal_host, check_url, guarded_session
from market.storage import StorageError, UnsafeLocation
from tests.market.storage_fixtures import MarketHTTPServer

pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "shared"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:0a00:0001::1", "private"),  # 6to4 around 10.0.0.1
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 around 127.0.0.1
        ("192.0.2.1", "not a public address"),  # documentation range
    ],
)
def test_internal_addresses_are_refused_without_the_flag(address: str, reason: str) -> None:
    ip = ipaddress.ip_address(address)
    refusal = address_refusal(ip, allow_private=False)
    assert refusal is not None and reason in refusal
    assert address_refusal(ip, allow_private=True) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "metadata"),
        ("::ffff:169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),  # Alibaba Cloud ECS
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
    ],
)
def test_some_addresses_are_refused_even_with_the_flag(address: str, reason: str) -> None:
    ip = ipaddress.ip_address(address)
    for allow_private in (False, True):
        refusal = address_refusal(ip, allow_private=allow_private)
        assert refusal is not None and reason in refusal


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize(
    "url", ["ftp://example.org/market/", "file:///etc/passwd", "gopher://x/", "http:///nohost"]
)
def test_check_url_refuses_other_schemes_and_missing_hosts(url: str) -> None:
    with pytest.raises(UnsafeLocation):
        check_url(url, allow_private=True)


def test_check_url_judges_every_address_of_a_name(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["market.example"] = ["93.184.216.34"]
    check_url("https://market.example/", allow_private=False)

    fake_dns["market.example"] = ["93.184.216.34", "10.1.2.3"]
    with pytest.raises(UnsafeLocation, match=r"10\.1\.2\.3 is a private address"):
        check_url("https://market.example/", allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.1/",
        "http://[::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://localhost/",
    ],
)
def test_check_url_sees_through_address_spellings(url: str) -> None:
    with pytest.raises(UnsafeLocation):
        check_url(url, allow_private=False)


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "10.0.0.1", "169.254.169.254"])
def test_address_hosts_are_judged_without_any_lookup(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(netguard.socket, "getaddrinfo", _no_lookups)
    with pytest.raises(UnsafeLocation):
        check_literal_host(host, allow_private=False)


def test_names_are_left_to_connect_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netguard.socket, "getaddrinfo", _no_lookups)
    check_literal_host("localhost", allow_private=False)
    check_literal_host("market.example", allow_private=False)


def _no_lookups(*args: object, **kwargs: object) -> None:
    raise AssertionError("no DNS lookup expected")


def test_check_url_reports_a_name_that_does_not_resolve() -> None:
    with pytest.raises(StorageError, match="cannot resolve"):
        check_url("http://does-not-exist.invalid/", allow_private=False)


def test_a_loopback_server_is_refused_without_the_flag_and_reachable_with_it(
    http_market: MarketHTTPServer,
) -> None:
    (http_market.root / "market.json").write_bytes(b"{}")

    with pytest.raises(UnsafeLocation, match="loopback"):
        guarded_session(allow_private=False).get(http_market.url + "market.json", timeout=5)
    assert http_market.requests == []

    response = guarded_session(allow_private=True).get(http_market.url + "market.json", timeout=5)
    assert response.status_code == 200
    assert response.content == b"{}"


def test_the_guard_judges_the_address_actually_connected_to(
    http_market: MarketHTTPServer,
    fake_dns: dict[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    loopback_only: list[str],
) -> None:
    """DNS rebinding: a name that was fine a moment ago now points inside. Each
    connection resolves again, and the new answer is refused before connecting."""
    _treat_as_public(monkeypatch, "127.0.0.1")
    (http_market.root / "market.json").write_bytes(b"{}")
    url = f"http://market.example:{http_market.port}/market.json"
    session = guarded_session(allow_private=False)
    fake_dns["market.example"] = ["127.0.0.1"]
    assert session.get(url, timeout=5).status_code == 200

    for inside in ("10.0.0.1", "169.254.169.254", "::ffff:192.168.0.1"):
        fake_dns["market.example"] = [inside]
        with pytest.raises(UnsafeLocation, match="refusing to connect"):
            session.get(url, timeout=5)

    assert len(http_market.requests) == 1
    assert loopback_only == ["127.0.0.1"]


def test_guarded_sessions_ignore_proxy_variables(
    http_market: MarketHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would hide the real destination from the guard.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.9:1")
    monkeypatch.setenv("http_proxy", "http://127.0.0.9:1")
    (http_market.root / "market.json").write_bytes(b"{}")

    response = guarded_session(allow_private=True).get(http_market.url + "market.json", timeout=5)

    assert response.status_code == 200


def test_a_name_that_does_not_resolve_is_a_connection_error() -> None:
    with pytest.raises(requests.ConnectionError):
        guarded_session(allow_private=False).get("http://does-not-exist.invalid/", timeout=5)


def _treat_as_public(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    """Let one loopback address stand in for a public server, since tests may only
    ever talk to loopback."""
    real = netguard.address_refusal
    stand_in = ipaddress.ip_address(address)

    def refusal(ip: netguard.IPAddress, *, allow_private: bool) -> str | None:
        return None if ip == stand_in else real(ip, allow_private=allow_private)

    monkeypatch.setattr(netguard, "address_refusal", refusal)
