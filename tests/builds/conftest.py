from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from market.models import Market
from market.services.publish import package_publish
from market.services.sync import market_sync
from portal.actors import Actor
from tests.market.helpers import demo_archive, local_market


@pytest.fixture(autouse=True)
def _builds_dir(settings: Any, tmp_path: Path) -> None:
    # Each test keeps its builds, uploads and sandboxes apart, and starts from the
    # build.sh defaults whatever this shell's environment holds.
    settings.BUILDS_DIR = tmp_path / "builds-data"
    settings.MARKETS_DIR = tmp_path / "markets-data"
    settings.BUILD_RESOURCE_ENVIRONMENT = {}
    settings.BUILD_ALLOWED_HOSTS = []


PUBLISHED = [
    ("log-analyzer", "1.3.0"),
    ("log-analyzer", "1.4.2"),
    ("redis-ops", "1.2.0"),
    ("redis-ops", "1.3.0"),
    ("redis-ops", "2.0.0"),
    ("log-collector", "1.1.0"),
    ("log-collector", "1.2.0"),
    ("slo-tracker", "1.1.0"),
    ("alert-router", "1.0.0"),
    ("prometheus-exporter-kit", "2.1.0"),
    ("prometheus-exporter-kit", "2.2.0"),
    ("cert-watcher", "0.4.0"),
]


@pytest.fixture
def source_market(tmp_path: Path) -> Market:
    market = local_market(tmp_path, "main")
    for name, version in PUBLISHED:
        filename, data = demo_archive(tmp_path, name, version)
        package_publish(actor=Actor.system(), market=market, data=data, filename=filename)
    market_sync(market=market)
    return market


@pytest.fixture
def offline(monkeypatch: Any) -> list[Any]:
    """Outbound network blocked: any connection but loopback and Unix sockets raises."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host not in ("127.0.0.1", "::1", "localhost"):
                attempts.append(address)
                raise OSError(f"network blocked in this test: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts
