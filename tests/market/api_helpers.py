"""Helpers for tests that drive the market through its real entry points: the REST
API, the management commands and the `/markets/` file server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from market.models import App, AppVersion, Market, SyncJob
from portal.models import AuditEvent

PUBLISH_URL = "/api/v1/markets/{market}/packages/"


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and directory (None) under ``root``, by relative path:
    a refused publish must leave this exactly as it was."""
    return {
        str(path.relative_to(root)): (path.read_bytes() if path.is_file() else None)
        for path in sorted(root.rglob("*"))
    }


def catalogue_state(market: Market) -> dict[str, Any]:
    """What a publish could change in the database."""
    return {
        "apps": list(App.objects.filter(market=market).order_by("name").values()),
        "versions": list(
            AppVersion.objects.filter(app__market=market)
            .order_by("app__name", "version")
            .values("app__name", "version", "digest", "size", "publisher")
        ),
        "publish_audit": AuditEvent.objects.filter(action="package.publish").count(),
        "sync_jobs": SyncJob.objects.filter(market=market).count(),
    }


def upload(filename: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(filename, data, content_type="application/gzip")


def api_publish(client: Any, market: str, filename: str, data: bytes) -> Any:
    return client.post(
        PUBLISH_URL.format(market=market),
        {"archive": upload(filename, data)},
        format="multipart",
    )


@dataclass
class CommandResult:
    status: int
    stdout: str
    stderr: str


def run_command(command: str, /, *args: Any, **options: Any) -> CommandResult:
    """Run a management command in-process and report what a shell would see: the
    exit status (0, SystemExit's code or CommandError's returncode), stdout, stderr.

    Not run_from_argv: it closes the database connections when done, which would
    end the test's transaction on PostgreSQL."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err, **options)
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        status = exc.returncode
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    else:
        status = 0
    return CommandResult(status, out.getvalue(), err.getvalue())


@pytest.fixture(name="queued_tasks")
def queued_tasks_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """Record market tasks instead of sending them to the broker (which, with the
    embedded defaults, is a folder shared with any worker running on this checkout)."""
    from market import tasks

    sent: list[tuple[str, Any]] = []
    # apply_async: what portal.queue.enqueue_on_commit, the one way to send, calls.
    monkeypatch.setattr(
        tasks.market_sync_task, "apply_async", lambda args, **_: sent.append(("sync", args[0]))
    )
    monkeypatch.setattr(
        tasks.app_details_task,
        "apply_async",
        lambda args, **_: sent.append(("details", args[0])),
    )
    yield sent


def small_package(name: str, version: str, **manifest: Any) -> tuple[str, bytes]:
    """(file name, bytes) of a small valid package `name` at `version`, its manifest
    fields changed as given (title, category, keywords, dependencies...)."""
    from tests.market.archives import manifest_text, package_archive

    manifest.setdefault("dependencies", None)
    text = manifest_text(name=name, version=version, **manifest)
    readme = f"# {name} {version}\n\nThe README of {name} {version}.\n"
    return f"{name}-{version}.tgz", package_archive(
        root=name, manifest=text, files={"README.md": readme}
    )


def publish_small(market: Market, name: str, version: str, **manifest: Any) -> None:
    from market.services.publish import package_publish
    from portal.actors import Actor

    filename, data = small_package(name, version, **manifest)
    package_publish(actor=Actor.system(), market=market, data=data, filename=filename)
