"""Small typed readers for environment variables.

Each raises ImproperlyConfigured on a value it cannot read, so a typo in a
deployment fails at start-up instead of silently falling back to a default.
"""

from __future__ import annotations

import ipaddress
import os
import re

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_cidrs(name: str) -> list[str]:
    """Comma-separated networks (``10.0.0.0/8``, ``::1``), checked and normalised."""
    cidrs = []
    for cidr in env_list(name):
        try:
            cidrs.append(str(ipaddress.ip_network(cidr, strict=False)))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must list networks such as 10.0.0.0/8, got {cidr!r}"
            ) from None
    return cidrs


# A Kafka topic name: what the broker accepts (1 to 249 of these characters).
_KAFKA_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
# host:port, the host a name, an IPv4 address or a bracketed IPv6 one.
_KAFKA_SERVER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):[0-9]{1,5}")


def env_kafka_servers(name: str) -> str:
    """Comma-separated ``host:port`` brokers, normalised; empty when unset."""
    servers = env_list(name)
    for server in servers:
        if not _KAFKA_SERVER.fullmatch(server):
            raise ImproperlyConfigured(
                f"{name} must list brokers as host:port, comma-separated, got {server!r}"
            )
    return ",".join(servers)


def env_kafka_topic(name: str, default: str) -> str:
    topic = env_str(name, default).strip() or default
    if not _KAFKA_TOPIC.fullmatch(topic) or topic in {".", ".."}:
        raise ImproperlyConfigured(
            f"{name} must be a Kafka topic name (letters, digits, '.', '_', '-'), got {topic!r}"
        )
    return topic
