"""Helpers for market service tests: demo packages and local markets."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from market.models import Market
from market.package import build_package
from market.services.markets import market_add, market_init
from portal.actors import Actor

DEMO_APPS = Path(__file__).resolve().parents[2] / "market" / "demo" / "apps"


@cache
def _built(name: str, version: str, out: str) -> bytes:
    built = build_package(DEMO_APPS / name / version, out_dir=Path(out))
    return built.path.read_bytes()


def demo_archive(tmp_root: Path, name: str, version: str) -> tuple[str, bytes]:
    """(file name, bytes) of a demo app version, built by the real builder."""
    out = tmp_root / "built"
    out.mkdir(parents=True, exist_ok=True)
    return f"{name}-{version}.tgz", _built(name, version, str(out))


def local_market(tmp_root: Path, name: str = "main", *, writable: bool = True) -> Market:
    folder = tmp_root / f"market-{name}"
    market_init(location=str(folder), name=name)
    return market_add(actor=Actor.system(), name=name, location=str(folder), writable=writable)
