"""A process that holds a guards.locks lock until told to let go (for tests/guards)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guards.locks import exclusive_lock


def hold(path: str, holding: Any, release: Any) -> None:
    with exclusive_lock(Path(path), timeout=10):
        holding.set()
        release.wait(30)
