"""Deploy targets: where an operation's rendered manifests go (SPEC section 6).

Workflow code uses only this package's public names::

    target = target_for(namespace)                  # by namespace.target
    applied = target.apply(change, manifests)       # Applied(ref, created)
    applied = target.remove(change)                 # uninstall
    target.find(operation_id)                       # ref or None
    target.read(namespace_name, instance_name)      # {path: text} as deployed

Every method is idempotent by ``Change.operation_id``. ``TargetUnavailable`` is
transient (retry with backoff); any other ``TargetError`` is a refusal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from deployments.targets.base import Applied, Change, DeployTarget, TargetError, TargetUnavailable
from deployments.targets.gitops import GitOpsTarget

if TYPE_CHECKING:
    from deployments.models import Namespace

__all__ = [
    "Applied",
    "Change",
    "DeployTarget",
    "GitOpsTarget",
    "TargetError",
    "TargetUnavailable",
    "gitops_target",
    "target_for",
]


def gitops_target() -> GitOpsTarget:
    """The GitOps repository configured in settings (GITOPS_DIR, GITOPS_REMOTE_URL)."""
    return GitOpsTarget(
        settings.GITOPS_DIR,
        remote_url=getattr(settings, "GITOPS_REMOTE_URL", None) or None,
        pause_before_commit=float(getattr(settings, "GITOPS_FAULT_PAUSE_BEFORE_COMMIT", 0.0)),
    )


def target_for(namespace: Namespace) -> DeployTarget:
    """The deploy target a namespace is bound to (``Namespace.target``)."""
    if namespace.target == "gitops":
        return gitops_target()
    raise TargetError(f"namespace {namespace.name} has an unknown target {namespace.target!r}")
