"""Production settings: `check --deploy` is clean, and a missing secret stops the start.

Each case runs manage.py in a fresh process, because settings are read once per process.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Variables the parent process (a developer's shell, the test run) may have set
# that would change what production settings see. DJANGO_ALLOW_ASYNC_UNSAFE comes
# from the browser tests' conftest and fails the deploy check.
_CLEARED = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "PORTAL_TESTING",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def _manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in _CLEARED}
    clean.update(PORTAL_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _production_key() -> str:
    key = secrets.token_urlsafe(45)
    assert len(key) == 60
    return key


def test_deploy_check_passes_with_production_settings(tmp_path: Path) -> None:
    result = _manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=_production_key(),
        ALLOWED_HOSTS="portal.example.org",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output
    assert "System check identified no issues" in output


@pytest.mark.parametrize("secret_key", ["", "too-short-0123456789"])
def test_production_refuses_to_start_without_a_real_secret_key(
    tmp_path: Path, secret_key: str
) -> None:
    env = {"DEBUG": "0", "ALLOWED_HOSTS": "portal.example.org"}
    if secret_key:
        env["SECRET_KEY"] = secret_key
    result = _manage(tmp_path, "check", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts(tmp_path: Path) -> None:
    result = _manage(tmp_path, "check", DEBUG="0", SECRET_KEY=_production_key())
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ALLOWED_HOSTS" in result.stderr


def test_a_sync_stale_age_within_one_heartbeat_is_refused(tmp_path: Path) -> None:
    result = _manage(
        tmp_path, "check", MARKET_SYNC_HEARTBEAT_SECONDS="10", MARKET_SYNC_STALE_SECONDS="10"
    )
    assert result.returncode != 0
    assert "MARKET_SYNC_STALE_SECONDS must be more than MARKET_SYNC_HEARTBEAT_SECONDS" in (
        result.stderr
    )
