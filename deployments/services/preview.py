"""The dry run of an upgrade: what would change, shown before anything is queued."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployments.models import Instance
from deployments.selectors.changes import Changes, changes_between
from deployments.selectors.dependents import Dependent, dependents_broken_by
from deployments.services.instances import _upgrade_target, package_for, require_operator
from deployments.workflow.rendering import instance_render
from market.package.render import (
    InstanceContext,
    RenderError,
)
from market.package.render_limits import RenderLimitExceeded
from portal.actors import Actor
from portal.services.errors import Invalid, RenderLimited


@dataclass
class UpgradePreview:
    from_version: str
    to_version: str
    changes: Changes
    # Present instances whose range to_version leaves (SPEC 11): the upgrade itself
    # is refused with breaks_dependents unless forced.
    dependents: list[Dependent] = field(default_factory=list)

    @property
    def values_diff(self) -> str:
        return self.changes.values_diff

    @property
    def manifests_diff(self) -> str:
        return self.changes.manifests_diff

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "values_diff": self.values_diff,
            "manifests_diff": self.manifests_diff,
            "files": [
                {"path": f.path, "change": f.change, "added": f.added, "removed": f.removed}
                for f in self.changes.files
            ],
            "dependents": [d.as_dict() for d in self.dependents],
        }


def instance_upgrade_preview(
    *,
    actor: Actor,
    instance: Instance,
    version: str | None = None,
    values: Any = None,
    reuse_values: bool = True,
) -> UpgradePreview:
    """Render the upgrade as the engine would and diff it against the current
    revision. Both sides are masked: a secret never shows, even in a diff."""
    require_operator(actor, instance.namespace)
    # A dry run changes nothing: a yanked version may be looked at; the upgrade
    # itself refuses it unless forced.
    target, new_values = _upgrade_target(
        instance=instance,
        version=version,
        values=values,
        reuse_values=reuse_values,
        allow_yanked=True,
    )
    current = instance.current_revision
    assert current is not None  # _upgrade_target refuses instances without one
    try:
        rendered = instance_render(
            package_for(target),
            values=new_values,
            instance=InstanceContext(
                name=instance.name, namespace=instance.namespace.name, revision=current.number + 1
            ),
        )
    except RenderError as exc:
        raise Invalid(f"{target.app.name} {target.version} does not render: {exc}") from None
    except RenderLimitExceeded as exc:
        raise RenderLimited(
            f"{target.app.name} {target.version} exceeds a render limit: {exc}"
        ) from None
    return UpgradePreview(
        from_version=current.app_version,
        to_version=target.version,
        changes=changes_between(
            old_values=current.values_masked,
            new_values=rendered.values_masked,
            old_manifests=current.manifests_masked,
            new_manifests=rendered.manifests_masked,
            old_label=f"r{current.number}",
            new_label="upgrade",
        ),
        dependents=dependents_broken_by(instance=instance, version=target.version),
    )
