"""Child-process side of the GitOps target tests.

Spawned children start a fresh interpreter and share nothing with the test but the
repository on disk; the GitOps target needs no Django setup and no database.
"""

from __future__ import annotations

import traceback
import uuid
from pathlib import Path
from typing import Any

from deployments.targets.base import Change, TargetUnavailable
from deployments.targets.gitops import GitOpsTarget

TRANSIENT_RETRIES = 5


def make_change(
    kind: str = "install",
    *,
    namespace: str = "team-a",
    instance: str = "web",
    app: str = "nginx",
    version: str = "1.0.0",
    requested_by: str = "alice",
    operation_id: str | None = None,
) -> Change:
    return Change(
        operation_id=operation_id or str(uuid.uuid4()),
        kind=kind,
        namespace=namespace,
        instance=instance,
        app=app,
        version=version,
        requested_by=requested_by,
    )


def manifests_for(instance: str, version: str) -> dict[str, str]:
    return {
        "deployment.yaml": f"kind: Deployment\nname: {instance}\nversion: {version}\n",
        "config/app.yaml": f"instance: {instance}\n",
    }


def apply_many(
    repo_dir: str,
    worker: int,
    count: int,
    results: Any,
    remote_url: str | None = None,
    namespace: str = "team-a",
) -> None:
    """Install then upgrade instances of its own, ``count`` changes in all, and put
    ``(worker, [(operation_id, sha, created)...], error)`` on ``results``.

    A transient failure is retried with the same change, as the workflow would (the
    entry then counts the tries in a fourth field, ``retries``)."""
    target = GitOpsTarget(Path(repo_dir), remote_url=remote_url)
    done: list[tuple[str, str, bool, int]] = []
    try:
        for index in range(count):
            instance = f"w{worker}-app{index % 5}"
            version = f"1.{index}.0"
            change = make_change(
                "install" if index < 5 else "upgrade",
                namespace=namespace,
                instance=instance,
                version=version,
                requested_by=f"worker{worker}",
            )
            for retries in range(TRANSIENT_RETRIES + 1):
                try:
                    applied = target.apply(change, manifests_for(instance, version))
                    break
                except TargetUnavailable:
                    if retries == TRANSIENT_RETRIES:
                        raise
            done.append((change.operation_id, applied.ref, applied.created, retries))
        results.put((worker, done, None))
    except Exception:
        results.put((worker, done, traceback.format_exc()))


def apply_once(repo_dir: str, change: Change, manifests: dict[str, str], pause: float) -> None:
    """Apply one change with the fault pause (the test SIGKILLs this process during it)."""
    GitOpsTarget(Path(repo_dir), pause_before_commit=pause).apply(change, manifests)
