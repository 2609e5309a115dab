"""The worker side of a source build: fetch, render and lint, pack, keep, publish.

Called by builds.tasks.build_run_task once it has claimed the build (queued ->
running, compare-and-set). Every step is written to the build's log and steps as
it happens, so the build page can follow it. Whatever happens, the sandbox and the
uploaded source are removed; only a built archive is kept.
"""

from __future__ import annotations

import logging
import shutil
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import PermissionDenied
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from builds.models import Build
from builds.pipeline import LintOutcome, make_preparer
from builds.services.builds import builds_dir, resources_of, sandbox_create, sandbox_remove
from builds.sources import extract_archive, git_export, package_root
from market.index import VersionConflict
from market.netguard import resolve_checked
from market.package import Limits, PackageRefused, build_package
from market.services.publish import package_publish
from market.storage.base import StorageError, UnsafeLocation
from portal.actors import Actor
from portal.queue import enqueue_on_commit

log = logging.getLogger(__name__)


class BuildRecorder:
    """Appends to the log and updates the steps of one build, row by row, so a
    page polling it sees progress while the build runs."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.steps: list[dict[str, Any]] = []

    def line(self, text: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        Build.objects.filter(pk=self.build.pk).update(
            log=Concat(F("log"), Value(f"{stamp} {text}\n"))
        )

    def _save_steps(self) -> None:
        Build.objects.filter(pk=self.build.pk).update(steps=self.steps)

    def start(self, name: str) -> None:
        now = timezone.now().isoformat()
        self.steps.append({"name": name, "state": "running", "started_at": now, "message": ""})
        self._save_steps()
        self.line(f"== {name}")

    def finish(self, *, state: str = "succeeded", message: str = "") -> None:
        step = self.steps[-1]
        step.update(state=state, finished_at=timezone.now().isoformat(), message=message)
        self._save_steps()
        if message:
            self.line(message)


def _fetch(build: Build, sandbox: Path, rec: BuildRecorder, limits: Limits) -> Path:
    source = sandbox / "source"
    if build.source_kind == Build.SourceKind.GIT:
        rec.line(f"fetching {build.source} at {build.ref}")
        sha = git_export(
            build.source,
            build.ref,
            source,
            work=sandbox,
            limits=limits,
            timeout=_git_timeout(),
            config=git_address_pins(build.source),
        )
        Build.objects.filter(pk=build.pk).update(commit_sha=sha)
        build.commit_sha = sha
        rec.finish(message=f"commit {sha}")
    else:
        data = (builds_dir() / "uploads" / build.upload).read_bytes()
        rec.line(f"unpacking {build.source} ({len(data)} bytes)")
        extract_archive(data, source, limits=limits, filename=build.source)
        rec.finish(message="source unpacked")
    return package_root(source)


def git_address_pins(url: str) -> list[str]:
    """For an http(s) URL: resolve the host now, refuse it if any address breaks the
    network guard, and pin git's connections to those addresses
    (``http.curloptResolve``), so a DNS answer that changes between this check and
    git's own lookup (rebinding) cannot send git elsewhere."""
    from django.conf import settings

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return []
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve_checked(
            parts.hostname, port, allow_private=settings.BUILD_GIT_ALLOW_PRIVATE_NETWORK
        )
    except socket.gaierror as exc:
        raise PackageRefused("git_failed", f"cannot resolve {parts.hostname}: {exc}") from None
    except UnsafeLocation as exc:
        raise PackageRefused("git_failed", str(exc)) from None
    shown = [f"[{a}]" if ":" in a else a for a in addresses]
    return [f"http.curloptResolve={parts.hostname}:{port}:{','.join(shown)}"]


def _git_timeout() -> int:
    from django.conf import settings

    return int(settings.BUILD_GIT_TIMEOUT_SECONDS)


def build_execute(*, build: Build) -> None:
    """Run a claimed (running) build to the end; never raises for a bad source."""
    rec = BuildRecorder(build)
    sandbox = sandbox_create()
    limits = Limits.from_settings()
    outcome = LintOutcome()
    try:
        rec.start("fetch source")
        root = _fetch(build, sandbox, rec, limits)

        rec.start("render, lint and pack")
        preparer = make_preparer(
            resources=resources_of(build),
            allowed=list(build.allowed_hosts),
            strict=build.strict,
            outcome=outcome,
        )
        try:
            built = build_package(root, out_dir=sandbox / "out", prepare=preparer, limits=limits)
        finally:
            Build.objects.filter(pk=build.pk).update(lint_report=outcome.report())
        for finding in outcome.violations:
            rec.line(f"warning: {finding.file}:{finding.line} names {finding.host}")
        keep = builds_dir() / str(build.pk)
        keep.mkdir(parents=True, exist_ok=True)
        shutil.move(str(built.path), keep / built.path.name)
        manifest = built.package.manifest
        Build.objects.filter(pk=build.pk).update(
            app_name=manifest.name,
            app_version=manifest.version,
            archive_name=built.path.name,
            digest=built.digest,
            size=built.size,
        )
        rec.finish(
            message=(
                f"{built.path.name} {built.digest}; {len(outcome.rendered)} template(s) "
                f"rendered; {len(outcome.violations)} host warning(s)"
            )
        )

        if build.publish_market is not None:
            rec.start(f"publish to {build.publish_market.name}")
            result = package_publish(
                actor=Actor(user=build.created_by, via=build.via),
                market=build.publish_market,
                data=(keep / built.path.name).read_bytes(),
                filename=built.path.name,
            )
            Build.objects.filter(pk=build.pk).update(published=True)
            rec.finish(
                message=f"published {result.name} {result.version}"
                + ("" if result.created else " (already there, unchanged)")
            )
    except Exception as exc:  # recorded on the build and shown to its owner
        if isinstance(exc, PackageRefused):
            reason = exc.reason
        elif isinstance(exc, VersionConflict | PermissionDenied | StorageError):
            reason = f"publish refused: {exc}"
        else:
            log.exception("build %s failed", build.pk)
            reason = f"{type(exc).__name__}: {exc}"
        if rec.steps and rec.steps[-1]["state"] == "running":
            rec.finish(state="failed", message=reason[:2000])
        if isinstance(exc, PackageRefused):
            # Refused: nothing of it is kept.
            shutil.rmtree(builds_dir() / str(build.pk), ignore_errors=True)
            Build.objects.filter(pk=build.pk).update(archive_name="", digest="", size=None)
        Build.objects.filter(pk=build.pk).update(
            state=Build.State.FAILED, error=reason[:500], finished_at=timezone.now()
        )
        return
    finally:
        sandbox_remove(sandbox)
        if build.upload:
            (builds_dir() / "uploads" / build.upload).unlink(missing_ok=True)
    Build.objects.filter(pk=build.pk).update(
        state=Build.State.SUCCEEDED, finished_at=timezone.now()
    )
    rec.line("build succeeded")


def builds_repair(*, now: datetime | None = None) -> tuple[int, int]:
    """Re-queue builds queued for longer than BUILD_REQUEUE_AFTER_SECONDS (the task
    claims by compare-and-set, so a build queued twice still runs once) and fail
    builds running for longer than BUILD_TIMEOUT_SECONDS. Returns (requeued, failed)."""
    from django.conf import settings

    from builds.tasks import build_run_task

    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.BUILD_REQUEUE_AFTER_SECONDS)
    queued = list(
        Build.objects.filter(state=Build.State.QUEUED, created_at__lt=stale).values_list(
            "pk", flat=True
        )
    )
    for build_id in queued:
        enqueue_on_commit(build_run_task, build_id)
    lost = now - timedelta(seconds=settings.BUILD_TIMEOUT_SECONDS)
    failed = 0
    for build in Build.objects.filter(state=Build.State.RUNNING, started_at__lt=lost):
        # Compare-and-set: a build that finished meanwhile keeps its state.
        if Build.objects.filter(pk=build.pk, state=Build.State.RUNNING).update(
            state=Build.State.FAILED,
            error="the worker running this build was lost; start it again",
            finished_at=now,
        ):
            failed += 1
            if build.upload:
                (builds_dir() / "uploads" / build.upload).unlink(missing_ok=True)
    return len(queued), failed
