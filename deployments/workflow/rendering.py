"""Rendering an instance's manifests, and the masked copies users may see: one
function for the engine's render step and for the upgrade preview, so the
preview shows exactly what an upgrade would write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builds.selectors import profile_resources
from deployments.workflow.manifests import target_paths
from market.package.model import Package
from market.package.render import InstanceContext, merged_values, render_templates_masked
from market.package.secrets import mask_secrets


@dataclass(frozen=True)
class Rendered:
    manifests: dict[str, str]  # file path under the instance's folder -> text
    manifests_masked: dict[str, str]
    merged: dict[str, Any]  # defaults deep-merged with the user's values
    values_masked: dict[str, Any]
    secret_paths: list[str]


def instance_render(
    package: Package, *, values: dict[str, Any], instance: InstanceContext
) -> Rendered:
    """Render with the resource profile templates see (SPEC section 7), and the copies
    users see with the mask in place of every secret. RenderError (ValuesInvalid
    included) and RenderLimitExceeded propagate."""
    rendered = render_templates_masked(
        package, values=values, instance=instance, resources=profile_resources()
    )
    merged = merged_values(package, values)
    paths = package.secret_paths()
    return Rendered(
        manifests=target_paths(rendered.manifests),
        manifests_masked=target_paths(rendered.masked),
        merged=merged,
        values_masked=mask_secrets(merged, paths),
        secret_paths=paths,
    )
