from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _builds_dir(settings: Any, tmp_path: Path) -> None:
    # Each test keeps its builds, uploads and sandboxes apart, and starts from the
    # build.sh defaults whatever this shell's environment holds.
    settings.BUILDS_DIR = tmp_path / "builds-data"
    settings.MARKETS_DIR = tmp_path / "markets-data"
    settings.BUILD_RESOURCE_ENVIRONMENT = {}
    settings.BUILD_ALLOWED_HOSTS = []
