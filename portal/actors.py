"""Who is acting: a user through the browser, a token through the API, or a command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    """The client address. REMOTE_ADDR only: X-Forwarded-For is trivially forged
    unless a trusted proxy rewrites it, and the proxy should then set REMOTE_ADDR."""
    return request.META.get("REMOTE_ADDR") or None


def actor_from_request(request: HttpRequest) -> Actor:
    from portal.models import ApiToken

    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken):
        return Actor(user=request.user, via="api", token=token, ip_address=client_ip(request))
    via = "api" if request.path.startswith("/api/") else "web"
    return Actor(user=request.user, via=via, ip_address=client_ip(request))
