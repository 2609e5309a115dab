"""Deploy targets: where an operation's rendered manifests go (SPEC section 6).

Workflow code uses only this package's public names::

    target = target_for(namespace)                  # by namespace.target
    applied = target.apply(change, manifests)       # Applied(ref, created)
    applied = target.remove(change)                 # uninstall
    target.find(operation_id)                       # ref or None
    target.read(namespace_name, instance_name)      # {path: text} as deployed
    target.holds(namespace_name, instance_name, m)  # exactly these manifests?

Every method is idempotent by ``Change.operation_id``. ``TargetUnavailable`` is
transient (retry with backoff); any other ``TargetError`` is a refusal.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from deployments.targets.base import Applied, Change, DeployTarget, TargetError, TargetUnavailable
from deployments.targets.gitops import GitOpsTarget

if TYPE_CHECKING:
    from deployments.models import Namespace
    from deployments.targets.kubernetes import KubernetesTarget

__all__ = [
    "Applied",
    "Change",
    "DeployTarget",
    "GitOpsTarget",
    "TargetError",
    "TargetUnavailable",
    "gitops_target",
    "kubernetes_target",
    "target_for",
]


def gitops_target() -> GitOpsTarget:
    """The GitOps repository configured in settings (GITOPS_DIR, GITOPS_REMOTE_URL).
    One object per configuration and process: it remembers that it checked the
    repository is Ops Market's, a git call saved on every later write."""
    return _gitops_target(
        str(settings.GITOPS_DIR),
        getattr(settings, "GITOPS_REMOTE_URL", None) or None,
        float(getattr(settings, "GITOPS_FAULT_PAUSE_BEFORE_COMMIT", 0.0)),
    )


@functools.lru_cache(maxsize=8)
def _gitops_target(repo_dir: str, remote_url: str | None, pause: float) -> GitOpsTarget:
    return GitOpsTarget(Path(repo_dir), remote_url=remote_url, pause_before_commit=pause)


def target_for(namespace: Namespace) -> DeployTarget:
    """The deploy target a namespace is bound to (``Namespace.target``)."""
    if namespace.target == "gitops":
        return gitops_target()
    if namespace.target == "kubernetes":
        return kubernetes_target(namespace)
    raise TargetError(f"namespace {namespace.name} has an unknown target {namespace.target!r}")


def kubernetes_target(namespace: Namespace) -> KubernetesTarget:
    """The target of a namespace bound to a cluster. Built per call: the token is
    decrypted where it is used, never kept in a long-lived object."""
    # Imported here: the GitOps target alone loads without Django's apps (the
    # target tests run it in bare spawned processes).
    from deployments.services.clusters import cluster_access
    from deployments.targets.kubernetes import KubernetesTarget

    cluster = namespace.cluster
    if cluster is None:
        raise TargetError(
            f"namespace {namespace.name} is bound to target kubernetes but names no cluster"
        )
    return KubernetesTarget(cluster_access(cluster), cluster_name=cluster.name)
