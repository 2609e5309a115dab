"""Rendered manifests as the Kubernetes objects the target applies (SPEC section 9).

Every document of every manifest file becomes one object, checked (apiVersion, kind,
metadata.name, no other namespace than the instance's), given the portal's labels,
and put in the order a cluster can take them in: what others refer to first
(namespaces, CRDs, accounts and rights, config), then workloads, then what points at
them. Deleting goes the other way round.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from deployments.targets.base import TargetError

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Whether a kind (api_version, kind) lives in a namespace: the cluster's discovery.
Namespaced = Callable[[str, str], bool]

MANAGED_BY = "app.kubernetes.io/managed-by"
INSTANCE = "app.kubernetes.io/instance"
NAMESPACE = "opsmarket.io/namespace"
FIELD_MANAGER = "ops-market"

# A cluster accepts objects whose references exist: a RoleBinding's Role, a Pod's
# ConfigMap and ServiceAccount, a custom resource's definition. Kinds not named here
# come after all of these (custom resources included).
APPLY_ORDER = (
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
)
_RANK = {kind: rank for rank, kind in enumerate(APPLY_ORDER)}

# Kinds whose pods are made from a template: the instance's labels go on the pods too,
# so that the pods of an instance can be found (metrics discovery, SPEC section 10).
# Only labels are added: a selector keeps selecting what it selected.
_POD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_API_VERSION = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?v[0-9a-z]{1,20}$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Which object: enough to find it again (namespace "" for a cluster-scoped one)."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.kind} {self.name}{where}"

    def as_json(self) -> list[str]:
        return [self.api_version, self.kind, self.namespace, self.name]

    @classmethod
    def from_json(cls, value: Any) -> ObjectRef:
        api_version, kind, namespace, name = (str(part) for part in value)
        return cls(api_version, kind, namespace, name)


@dataclass(frozen=True)
class KubeObject:
    ref: ObjectRef
    body: dict[str, Any]  # what goes to the server: labels added, namespace set
    source: str  # "path document N", for messages


def instance_labels(*, namespace: str, instance: str) -> dict[str, str]:
    return {MANAGED_BY: FIELD_MANAGER, INSTANCE: instance, NAMESPACE: namespace}


def instance_selector(*, namespace: str, instance: str = "") -> str:
    """The label selector of everything an instance's operations applied; without
    ``instance``, of everything the portal applied for the namespace's instances."""
    labels = instance_labels(namespace=namespace, instance=instance)
    return ",".join(f"{key}={value}" for key, value in labels.items() if value)


def kube_objects(
    manifests: Mapping[str, str],
    *,
    namespace: str,
    instance: str,
    namespaced: Namespaced,
) -> list[KubeObject]:
    """The objects of ``manifests`` in apply order, each with the instance's labels.

    ``namespaced(api_version, kind)`` says whether a kind lives in a namespace (the
    cluster's discovery); a namespaced object gets the instance's namespace, and one
    that names another is refused. Raises TargetError for a document that is not an
    object, or for two documents that are the same object.
    """
    labels = instance_labels(namespace=namespace, instance=instance)
    objects: list[KubeObject] = []
    seen: dict[ObjectRef, str] = {}
    for path in sorted(manifests):
        for number, document in enumerate(_documents(path, manifests[path]), start=1):
            if document is None:
                continue
            source = f"{path} document {number}"
            ref, body = _object(document, source, namespace=namespace, namespaced=namespaced)
            if ref.kind == "Namespace" and ref.name == namespace:
                raise TargetError(
                    f"{source}: the Namespace {namespace!r} is the portal namespace itself;"
                    " the portal creates it and never deletes it"
                )
            if ref in seen:
                raise TargetError(f"{source}: {ref} is also defined in {seen[ref]}")
            seen[ref] = source
            _add_labels(body, labels)
            objects.append(KubeObject(ref=ref, body=body, source=source))
    return sorted(objects, key=lambda item: (apply_rank(item.ref.kind), item.ref))


def apply_rank(kind: str) -> int:
    return _RANK.get(kind, len(APPLY_ORDER))


def delete_order(refs: Iterable[ObjectRef]) -> list[ObjectRef]:
    """Dependents before what they depend on: workloads before their config and rights."""
    return sorted(refs, key=lambda ref: (-apply_rank(ref.kind), ref))


def _documents(path: str, text: str) -> list[Any]:
    try:
        return list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise TargetError(f"{path}{line}: not YAML ({getattr(exc, 'problem', exc)})") from None


def _object(
    document: Any, source: str, *, namespace: str, namespaced: Namespaced
) -> tuple[ObjectRef, dict[str, Any]]:
    if not isinstance(document, dict):
        raise TargetError(f"{source}: not a Kubernetes object (a mapping)")
    body = copy.deepcopy(document)
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if not isinstance(api_version, str) or not _API_VERSION.fullmatch(api_version):
        raise TargetError(f"{source}: apiVersion {api_version!r} is not an API version")
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise TargetError(f"{source}: kind {kind!r} is not a kind")
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise TargetError(f"{source}: no metadata")
    name = metadata.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise TargetError(f"{source}: metadata.name {name!r} is not a Kubernetes name")
    if "generateName" in metadata:
        raise TargetError(f"{source}: generateName cannot be applied twice to the same object")
    if namespaced(api_version, kind):
        named = metadata.get("namespace")
        if named not in (None, "", namespace):
            raise TargetError(f"{source}: metadata.namespace {named!r} is not {namespace!r}")
        metadata["namespace"] = namespace
        return ObjectRef(api_version, kind, namespace, name), body
    # Cluster-scoped: a namespace written on it means nothing; the server would refuse.
    metadata.pop("namespace", None)
    return ObjectRef(api_version, kind, "", name), body


def _add_labels(body: dict[str, Any], labels: dict[str, str]) -> None:
    metadata = body["metadata"]
    given = metadata.get("labels")
    metadata["labels"] = {**(given if isinstance(given, dict) else {}), **labels}
    template_path = _POD_TEMPLATES.get(str(body.get("kind")))
    if template_path is None:
        return
    node: Any = body
    for key in template_path:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        template_metadata = node.setdefault("metadata", {})
        if isinstance(template_metadata, dict):
            pod_labels = template_metadata.get("labels")
            template_metadata["labels"] = {
                **(pod_labels if isinstance(pod_labels, dict) else {}),
                **labels,
            }
