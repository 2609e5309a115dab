"""The Kubernetes target: manifests applied straight into a cluster (SPEC section 9)."""

from deployments.targets.kubernetes.objects import ObjectRef, instance_selector
from deployments.targets.kubernetes.target import KubernetesTarget

__all__ = ["KubernetesTarget", "ObjectRef", "instance_selector"]
