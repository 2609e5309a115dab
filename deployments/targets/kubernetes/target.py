"""The Kubernetes target (SPEC section 9): an operation's manifests applied straight
into a cluster, behind the same interface as the GitOps target.

apply(change, manifests), in this order, each step safe to repeat:

1. read the instance record (``record.py``); an operation it already lists was
   applied: answer ``created=False``;
2. create the Kubernetes namespace when missing;
3. an operation that a killed worker left half-done (another id in ``pending``) is
   undone first;
4. write this operation's objects as ``pending``, then server-side apply each one in
   dependency order (``objects.APPLY_ORDER``), as field manager ``ops-market``;
5. delete what the previous revision had and this one has not (prune);
6. write the record: these objects are now ``applied``, the operation id remembered.

A refusal (403, 422, an admission webhook, an unknown kind) at step 4 puts the
previous revision's objects back and deletes the ones the operation created, then
raises TargetError with the server's message; nothing is left half-applied. No answer
(or a 5xx) raises TargetUnavailable and leaves ``pending`` for the retry, which
carries on where this one stopped (applying an object twice changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from deployments.kube import ClusterAccess
from deployments.targets.base import (
    Applied,
    Change,
    TargetError,
    TargetUnavailable,
    check_change,
    check_manifests,
    check_name,
    check_operation_id,
)
from deployments.targets.kubernetes.objects import (
    KubeObject,
    ObjectRef,
    delete_order,
    instance_selector,
    kube_objects,
)
from deployments.targets.kubernetes.record import (
    InstanceRecord,
    ObjectSet,
    record_read,
    record_ref,
    record_write,
)
from deployments.targets.kubernetes.session import KubeRefused, KubeSession, kube_session

# Kinds looked for by label at uninstall besides those the record names: an object
# made by hand with the instance's labels, or one a lost record forgot, goes too.
# Services first among equals: SREWorks 1.2 shipped "uninstall leaves Services behind".
SWEPT_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Pod"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)


class KubernetesTarget:
    name = "kubernetes"

    def __init__(self, access: ClusterAccess, *, cluster_name: str = "") -> None:
        self.access = access
        self.cluster_name = cluster_name
        self.requests = 0  # API requests made, for the benchmarks

    def __repr__(self) -> str:
        return f"KubernetesTarget({self.cluster_name or self.access.server!r})"

    # --- the target interface --------------------------------------------------------

    def apply(self, change: Change, manifests: Mapping[str, str]) -> Applied:
        check_change(change)
        checked = check_manifests(manifests)
        namespace, instance = change.namespace, change.instance
        with self.session() as session:
            record = record_read(session, namespace, instance) or InstanceRecord(
                namespace, instance
            )
            if change.operation_id in record.operations:
                return Applied(record.resource_version, created=False)
            objects = kube_objects(
                checked, namespace=namespace, instance=instance, namespaced=session.namespaced
            )
            session.namespace_ensure(namespace)
            if record.pending is not None and record.pending.operation_id != change.operation_id:
                self._put_back(session, record)
            record.pending = ObjectSet(change.operation_id, checked, [item.ref for item in objects])
            record_write(session, record)
            self._apply_all(session, record, objects)
            before = set(record.applied.objects) if record.applied else set()
            pruned = [
                ref
                for ref in delete_order(before - set(record.pending.objects))
                if session.delete(ref)
            ]
            record.applied, record.pending = record.pending, None
            record.remember(change.operation_id)
            version = record_write(session, record)
        summary = f"applied {len(objects)} objects to cluster {self.cluster_name}"
        if pruned:
            summary += f", pruned {len(pruned)} ({', '.join(str(ref) for ref in pruned[:5])})"
        return Applied(version, created=True, summary=summary)

    def remove(self, change: Change) -> Applied:
        """Delete every object of the instance, namespaced and cluster-wide, then prove
        it: a list by the instance's labels must come back empty."""
        check_change(change)
        namespace, instance = change.namespace, change.instance
        with self.session() as session:
            record = record_read(session, namespace, instance)
            known = record.every_object() if record else set()
            deleted = [ref for ref in delete_order(known) if session.delete(ref)]
            # The record goes last: a worker killed before then leaves it, and the
            # retry still knows every object (custom kinds too, which no sweep lists).
            left = self._labelled(session, namespace, instance, known)
            left.discard(record_ref(namespace, instance))
            deleted += [ref for ref in delete_order(left) if session.delete(ref)]
            session.delete(record_ref(namespace, instance))
            still = [
                ref
                for ref in self._labelled(session, namespace, instance, known)
                if not _terminating(session.get(ref))
            ]
        if still:
            raise TargetUnavailable(
                f"{len(still)} objects of the instance are still listed after deleting them"
                f" ({', '.join(str(ref) for ref in still[:5])})"
            )
        summary = (
            f"deleted {len(deleted)} objects from cluster {self.cluster_name};"
            " none left with the instance's labels"
        )
        return Applied(
            record.resource_version if record else "",
            created=record is not None or bool(deleted),
            summary=summary,
        )

    def find(self, operation_id: str, namespace: str = "", instance: str = "") -> str | None:
        check_operation_id(operation_id)
        with self.session() as session:
            record = record_read(
                session, check_name("namespace", namespace), check_name("instance", instance)
            )
        if record is None or operation_id not in record.operations:
            return None
        return record.resource_version

    def repair(self, namespace: str, instance: str) -> None:
        """Undo an operation a worker left half-applied: its objects go, the previous
        revision's are put back."""
        with self.session() as session:
            record = record_read(
                session, check_name("namespace", namespace), check_name("instance", instance)
            )
            if record is not None and record.pending is not None:
                self._put_back(session, record)

    def read(self, namespace: str, instance: str) -> dict[str, str]:
        with self.session() as session:
            record = record_read(
                session, check_name("namespace", namespace), check_name("instance", instance)
            )
        if record is None or record.applied is None:
            return {}
        return dict(record.applied.manifests)

    def holds(self, namespace: str, instance: str, manifests: Mapping[str, str]) -> bool:
        """The record's current revision is exactly ``manifests``, nothing is pending,
        and each of its objects is in the cluster."""
        with self.session() as session:
            record = record_read(
                session, check_name("namespace", namespace), check_name("instance", instance)
            )
            if record is None or record.applied is None or record.pending is not None:
                return False
            if record.applied.manifests != dict(manifests):
                return False
            return all(session.get(ref) is not None for ref in record.applied.objects)

    # --- the steps -------------------------------------------------------------------

    def _apply_all(
        self, session: KubeSession, record: InstanceRecord, objects: list[KubeObject]
    ) -> None:
        for item in objects:
            try:
                session.apply(item.ref, item.body)
            except KubeRefused as exc:
                undone = self._put_back(session, record)
                raise TargetError(f"{item.ref} ({item.source}) refused: {exc}; {undone}") from None

    def _put_back(self, session: KubeSession, record: InstanceRecord) -> str:
        """Return the cluster to the record's ``applied`` revision: its objects applied
        again, those only the pending operation had deleted. Says what it did."""
        pending, previous = record.pending, record.applied
        if previous is not None:
            objects = kube_objects(
                previous.manifests,
                namespace=record.namespace,
                instance=record.instance,
                namespaced=session.namespaced,
            )
            for item in objects:
                try:
                    session.apply(item.ref, item.body)
                except KubeRefused as exc:
                    raise TargetError(
                        f"putting the previous revision back failed at {item.ref}: {exc}"
                    ) from None
        keep = set(previous.objects) if previous else set()
        stray = set(pending.objects) - keep if pending else set()
        kept = []
        for ref in delete_order(stray):
            try:
                session.delete(ref)
            except KubeRefused as exc:
                # Typically the same right that refused the apply, for an object
                # that was never created: said, not hidden.
                kept.append(f"{ref} ({exc.status})")
        refused = f" (could not delete {', '.join(kept)})" if kept else ""
        record.pending = None
        if previous is None:
            session.delete(record.ref)
            return f"the objects it had created were deleted{refused}"
        record_write(session, record)
        return f"the previous revision's objects were put back{refused}"

    def _labelled(
        self, session: KubeSession, namespace: str, instance: str, known: set[ObjectRef]
    ) -> set[ObjectRef]:
        selector = instance_selector(namespace=namespace, instance=instance)
        kinds = {(ref.api_version, ref.kind) for ref in known} | set(SWEPT_KINDS)
        found: set[ObjectRef] = set()
        for api_version, kind in sorted(kinds):
            found.update(session.list_labelled(api_version, kind, namespace, selector))
        return found

    @contextmanager
    def session(self) -> Iterator[KubeSession]:
        with kube_session(self.access) as session:
            try:
                yield session
            finally:
                self.requests += session.requests


def _terminating(live: dict[str, Any] | None) -> bool:
    """Gone, or on its way (a finalizer holds it until its controller lets go)."""
    return live is None or bool((live.get("metadata") or {}).get("deletionTimestamp"))
