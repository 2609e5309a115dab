"""The instance record: what the Kubernetes target applied for one instance, kept in
the cluster beside the objects (a Secret, as Helm keeps its releases).

It is what makes the target idempotent and safe to kill: the operations already
applied (a redelivered one finds its id and writes nothing), the manifests and the
objects of the current revision (verify, prune, live state), and, while an operation
runs, the objects it is applying (``pending``). Uninstall and the undo of a failed
or killed operation delete from ``applied`` + ``pending``, so nothing an operation
ever created is forgotten, whatever moment a worker died at.

A Secret, not a ConfigMap: the manifests hold the instance's secrets. Stored
gzip-compressed (Secrets are limited to 1 MiB).
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass, field
from typing import Any

from deployments.targets.base import TargetError
from deployments.targets.kubernetes.objects import ObjectRef, instance_labels
from deployments.targets.kubernetes.session import KubeSession

RECORD_PREFIX = "opsmarket-instance-"
RECORD_TYPE = "opsmarket.io/instance-record"
# Enough for any redelivery: an operation is retried for minutes, not for 50 others.
KEPT_OPERATIONS = 50
MAX_RECORD_BYTES = 900 * 1024


@dataclass
class ObjectSet:
    operation_id: str
    manifests: dict[str, str]
    objects: list[ObjectRef]


@dataclass
class InstanceRecord:
    namespace: str
    instance: str
    applied: ObjectSet | None = None
    pending: ObjectSet | None = None
    operations: list[str] = field(default_factory=list)
    resource_version: str = ""

    @property
    def ref(self) -> ObjectRef:
        return record_ref(self.namespace, self.instance)

    def every_object(self) -> set[ObjectRef]:
        """What the instance may have in the cluster: the current revision's objects
        and those of an operation that has not finished."""
        found: set[ObjectRef] = set()
        for part in (self.applied, self.pending):
            if part is not None:
                found.update(part.objects)
        return found

    def remember(self, operation_id: str) -> None:
        if operation_id not in self.operations:
            self.operations = [*self.operations, operation_id][-KEPT_OPERATIONS:]


def record_ref(namespace: str, instance: str) -> ObjectRef:
    return ObjectRef("v1", "Secret", namespace, RECORD_PREFIX + instance)


def record_read(session: KubeSession, namespace: str, instance: str) -> InstanceRecord | None:
    live = session.get(record_ref(namespace, instance))
    if live is None:
        return None
    if live.get("type") != RECORD_TYPE:
        raise TargetError(
            f"Secret {RECORD_PREFIX}{instance} in {namespace} is not an Ops Market record;"
            " rename it or the instance"
        )
    try:
        raw = base64.b64decode(((live.get("data") or {}).get("record")) or "")
        content = json.loads(gzip.decompress(raw))
    except (ValueError, OSError, EOFError):
        raise TargetError(
            f"the record of {namespace}/{instance} in the cluster is damaged"
        ) from None
    return InstanceRecord(
        namespace=namespace,
        instance=instance,
        applied=_part(content.get("applied")),
        pending=_part(content.get("pending")),
        operations=[str(item) for item in content.get("operations") or []],
        resource_version=str((live.get("metadata") or {}).get("resourceVersion") or ""),
    )


def record_write(session: KubeSession, record: InstanceRecord) -> str:
    """Store the record (server-side apply, like every object); its resourceVersion."""
    content = {
        "applied": _json(record.applied),
        "pending": _json(record.pending),
        "operations": record.operations,
    }
    packed = gzip.compress(json.dumps(content, sort_keys=True).encode(), mtime=0)
    if len(packed) > MAX_RECORD_BYTES:
        raise TargetError(
            f"the manifests of {record.namespace}/{record.instance} are too large to record"
            f" in the cluster ({len(packed) // 1024} KiB compressed, at most"
            f" {MAX_RECORD_BYTES // 1024} KiB)"
        )
    ref = record.ref
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": RECORD_TYPE,
        "metadata": {
            "name": ref.name,
            "namespace": ref.namespace,
            "labels": instance_labels(namespace=record.namespace, instance=record.instance),
        },
        "data": {"record": base64.b64encode(packed).decode()},
    }
    answer = session.apply(ref, body)
    record.resource_version = str((answer.get("metadata") or {}).get("resourceVersion") or "")
    return record.resource_version


def _json(part: ObjectSet | None) -> dict[str, Any] | None:
    if part is None:
        return None
    return {
        "operation_id": part.operation_id,
        "manifests": part.manifests,
        "objects": [ref.as_json() for ref in part.objects],
    }


def _part(value: Any) -> ObjectSet | None:
    if not isinstance(value, dict):
        return None
    return ObjectSet(
        operation_id=str(value.get("operation_id") or ""),
        manifests={str(k): str(v) for k, v in (value.get("manifests") or {}).items()},
        objects=[ObjectRef.from_json(item) for item in value.get("objects") or []],
    )
