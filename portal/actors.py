"""Who is acting: a user through the browser, a token through the API, or a command."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

if TYPE_CHECKING:
    from django.http import HttpRequest

    from portal.models import ApiToken


@dataclass(frozen=True)
class Actor:
    user: Any  # a User, or None for the system
    via: str = "web"  # web | api | cli | system
    token: ApiToken | None = None
    ip_address: str | None = None

    @property
    def label(self) -> str:
        if self.user is None:
            return "system"
        return str(self.user.get_username())

    @classmethod
    def system(cls) -> Actor:
        return cls(user=None, via="system")

    @classmethod
    def cli(cls, user: Any = None) -> Actor:
        return cls(user=user, via="cli")


def client_ip(request: HttpRequest) -> str | None:
    """The client address: REMOTE_ADDR, unless that is a trusted proxy
    (``TRUSTED_PROXIES``). Then X-Forwarded-For is read right to left, skipping
    trusted proxies: each proxy appends the address it received from, so only the
    entries our own proxies added are believed, never what a client wrote further
    left. An entry that is not an address stops the walk at the hop that added it."""
    peer = request.META.get("REMOTE_ADDR") or None
    trusted = [ipaddress.ip_network(cidr) for cidr in settings.TRUSTED_PROXIES]
    if peer is None or not _within(peer, trusted):
        return peer
    client = peer
    for entry in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        entry = entry.strip()
        if not entry:
            continue
        try:
            ipaddress.ip_address(entry)
        except ValueError:
            break
        client = entry
        if not _within(entry, trusted):
            break
    return client


def _within(address: str, networks: list[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def actor_from_request(request: HttpRequest) -> Actor:
    from portal.models import ApiToken

    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken):
        return Actor(user=request.user, via="api", token=token, ip_address=client_ip(request))
    via = "api" if request.path.startswith("/api/") else "web"
    return Actor(user=request.user, via=via, ip_address=client_ip(request))
