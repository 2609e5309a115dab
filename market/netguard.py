"""SSRF guard for every outbound connection a market makes.

A market location comes from a user (``market_add``, ``POST /markets/``), so the
portal must not become a way to reach what only the portal can reach: loopback
services, the cloud metadata endpoint, the intranet.

Checking a URL before requesting it is not enough: the name can resolve to a public
address for the check and to ``127.0.0.1`` for the connection (DNS rebinding). So the
check sits in the connection itself: :class:`GuardedHTTPConnection` resolves the
host, refuses the request if *any* address is unsafe, then connects to the checked
address by number. TLS still verifies the certificate against, and sends SNI for,
the host name, and the ``Host`` header is unchanged. Every connection -- each retry,
each redirect hop -- goes through it.

:func:`guarded_session` gives a ``requests`` session built on it, and
:func:`guard_boto_client` puts it under a boto3 client. :func:`check_url` is the
same policy for validating a URL up front (fail fast with a clear message).

Policy (:func:`address_refusal`): without ``allow_private`` only globally routable
unicast addresses are allowed. ``allow_private`` opens loopback, private, link-local,
shared (CGNAT) and unique-local ranges for markets inside the intranet; unspecified,
multicast, reserved and cloud metadata addresses stay refused whatever the flag. IPv4
addresses embedded in IPv6 (mapped, 6to4, NAT64) are judged as the IPv4 address.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from market.storage.base import StorageError, UnsafeLocation

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services hand out cloud credentials: never a market, flag or not.
# AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba Cloud ECS.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_PRIVATE_V4 = tuple(
    ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_refusal(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why a connection to ``ip`` is refused, or ``None`` if it is allowed."""
    ip = _embedded_ipv4(ip)
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata endpoint"
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    internal = _internal_kind(ip)
    if internal is not None:
        return None if allow_private else internal
    # After the internal kinds: Python counts ::1 as reserved (it is in ::/8).
    if ip.is_reserved or ip == ipaddress.IPv4Address("255.255.255.255"):
        return "a reserved address"
    if not ip.is_global and not allow_private:
        return "not a public address"
    return None


def _internal_kind(ip: IPAddress) -> str | None:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and any(ip in net for net in _PRIVATE_V4):
        return "a private address"
    if ip in _SHARED:
        return "a shared (CGNAT) address"
    if ip in _UNIQUE_LOCAL:
        return "a unique-local address"
    return None


def resolve_checked(
    host: str, port: int, *, allow_private: bool, what: str = "a market"
) -> list[str]:
    """Resolve ``host`` (every A and AAAA record) and return the addresses, in
    resolver order, if all of them are allowed; raise ``UnsafeLocation`` otherwise.

    Refusing when any one record is unsafe (rather than skipping it) keeps a name
    that mixes a public and an internal address from being used at all.
    ``socket.gaierror`` propagates for a name that does not resolve.
    """
    host = host.strip("[]")
    records = socket.getaddrinfo(
        host, port, urllib3_connection.allowed_gai_family(), socket.SOCK_STREAM
    )
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in records:
        literal = str(sockaddr[0])
        _check_address(host, ipaddress.ip_address(literal.split("%", 1)[0]), allow_private, what)
        if literal not in addresses:
            addresses.append(literal)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
    return addresses


def check_literal_host(host: str, *, allow_private: bool) -> None:
    """Refuse a host written as an address (``127.0.0.1``, ``[::1]``) right away, with
    no I/O, so a location is refused when it is opened rather than on first use. Host
    names pass here; connections check what they resolve to."""
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return
    _check_address(host, ip, allow_private)


def _check_address(host: str, ip: IPAddress, allow_private: bool, what: str = "a market") -> None:
    reason = address_refusal(ip, allow_private=allow_private)
    if reason is not None:
        hint = "" if allow_private else f"; {what} inside your network needs the allow flag"
        raise UnsafeLocation(f"refusing to connect to {host}: {ip} is {reason}{hint}")


def check_url(url: str, *, allow_private: bool, what: str = "a market") -> None:
    """Raise ``UnsafeLocation`` unless ``url`` is http(s) and its host resolves only
    to allowed addresses. Fail-fast validation; connections are checked again.
    ``what`` names the kind of server in the refusal ("a cluster")."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeLocation(f"only http and https URLs are allowed, not {parts.scheme!r}")
    if not parts.hostname:
        raise UnsafeLocation("URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeLocation("URL has an invalid port") from None
    try:
        resolve_checked(parts.hostname, port, allow_private=allow_private, what=what)
    except socket.gaierror as error:
        raise StorageError(f"cannot resolve {parts.hostname}: {error.strerror}") from None


class _GuardedConnectionMixin:
    """Overrides urllib3's ``_new_conn``: resolve, check every address, connect to
    a checked address by number. Mixed into HTTP and HTTPS connection classes."""

    allow_private: bool = False

    def _new_conn(self) -> socket.socket:
        conn: Any = self
        try:
            addresses = resolve_checked(conn._dns_host, conn.port, allow_private=self.allow_private)
        except socket.gaierror as error:
            raise NameResolutionError(conn.host, conn, error) from error
        last_error: OSError | None = None
        for address in addresses:
            try:
                # A numeric host: create_connection does no second DNS lookup.
                return urllib3_connection.create_connection(
                    (address, conn.port),
                    conn.timeout,
                    source_address=conn.source_address,
                    socket_options=conn.socket_options,
                )
            except TimeoutError as error:
                raise ConnectTimeoutError(
                    conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
                ) from error
            except OSError as error:
                last_error = error
        raise NewConnectionError(conn, f"Failed to establish a new connection: {last_error}")


@functools.cache
def guarded_pool_classes(
    http_pool: type[HTTPConnectionPool], https_pool: type[HTTPSConnectionPool], allow_private: bool
) -> dict[str, type[HTTPConnectionPool]]:
    """Subclasses of the given pool classes whose connections are guarded."""
    classes: dict[str, type[HTTPConnectionPool]] = {}
    for scheme, pool in (("http", http_pool), ("https", https_pool)):
        connection_cls = type(
            f"Guarded{pool.ConnectionCls.__name__}",
            (_GuardedConnectionMixin, pool.ConnectionCls),
            {"allow_private": allow_private},
        )
        classes[scheme] = type(
            f"Guarded{pool.__name__}", (pool,), {"ConnectionCls": connection_cls}
        )
    return classes


class GuardedHTTPAdapter(HTTPAdapter):
    """A requests transport adapter whose every connection passes the guard."""

    def __init__(self, *, allow_private: bool, **kwargs: Any) -> None:
        # Set before super().__init__, which builds the pool manager.
        self.allow_private = allow_private
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = guarded_pool_classes(
            HTTPConnectionPool, HTTPSConnectionPool, self.allow_private
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # The guard would judge the proxy's address, not the market's: no proxies.
        raise UnsafeLocation("HTTP proxies are not supported for markets")


def guarded_session(*, allow_private: bool) -> requests.Session:
    """A requests session that only connects where the guard allows.

    ``trust_env`` is off: proxy variables would send traffic where the guard cannot
    see the destination, and ``~/.netrc`` would attach credentials to any host.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedHTTPAdapter(allow_private=allow_private)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def guard_boto_client(client: Any, *, allow_private: bool) -> None:
    """Make every connection of a botocore client pass the guard.

    botocore keeps its urllib3 pool classes in a dict on its HTTP session that its
    pool managers share; replacing the entries there is the one hook it has. If a
    botocore release moves it, refuse (fail closed) rather than run unguarded.
    """
    from botocore.awsrequest import AWSHTTPConnectionPool, AWSHTTPSConnectionPool

    http_session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    pools = getattr(http_session, "_pool_classes_by_scheme", None)
    if not isinstance(pools, dict) or set(pools) != {"http", "https"}:
        raise UnsafeLocation(
            "cannot install the network guard on this botocore version, "
            "refusing to connect to the S3 endpoint unguarded"
        )
    pools.update(guarded_pool_classes(AWSHTTPConnectionPool, AWSHTTPSConnectionPool, allow_private))
