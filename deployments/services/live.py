"""Live state (SPEC section 9): each object of an instance's current revision as it
is in its target, with its sync and health, stored as ResourceState rows and
summarised on the instance.

A namespace is looked at as a whole: one list request per kind, selected by the
portal's labels, answers for every instance in it (200 instances of three kinds cost
three requests, not six hundred). What an instance should have comes from its
current revision in the database, not from the cluster, so a deleted object (or a
deleted instance record) shows as ``missing``.

GitOps namespaces have no cluster to look at: their objects are ``committed`` with
health ``unknown``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deployments.live import resource_drift, resource_health
from deployments.models import (
    DeployTarget,
    Instance,
    InstanceStatus,
    LiveHealth,
    LiveSync,
    Namespace,
    ResourceState,
)
from deployments.targets import TargetError, TargetUnavailable, kubernetes_target
from deployments.targets.kubernetes.objects import (
    KubeObject,
    ObjectRef,
    instance_selector,
    kube_objects,
)
from deployments.targets.kubernetes.session import KubeSession
from deployments.workflow.manifests import resources_of
from portal.crypto import DecryptionFailed, decrypt_json
from search.services.indexing import index_later

log = logging.getLogger(__name__)

# Worst first: the summary of an instance is its worst resource.
_SYNC_RANK: list[str] = [LiveSync.MISSING, LiveSync.DRIFTED, LiveSync.COMMITTED, LiveSync.SYNCED]
_HEALTH_RANK: list[str] = [
    LiveHealth.DEGRADED,
    LiveHealth.PROGRESSING,
    LiveHealth.UNKNOWN,
    LiveHealth.HEALTHY,
]
# Instances whose objects should be in the target.
_LOOKED_AT = (InstanceStatus.DEPLOYED, InstanceStatus.UPGRADING)


@dataclass(frozen=True)
class Seen:
    ref: ObjectRef
    sync: str
    health: str
    message: str
    diff: str = ""


@dataclass(frozen=True)
class RefreshResult:
    instances: int
    requests: int  # API requests made, for the benchmark
    error: str = ""


def live_is_stale(instance: Instance) -> bool:
    """Never looked at, older than LIVE_REFRESH_SECONDS, or the instance changed after
    the last look (a finished repair or upgrade must not show what it replaced)."""
    checked = instance.live_checked_at
    if checked is None or instance.updated_at > checked:
        return True
    return timezone.now() - checked > timedelta(seconds=settings.LIVE_REFRESH_SECONDS)


def namespace_live_refresh(
    *, namespace_id: int, instance_ids: Iterable[int] | None = None
) -> RefreshResult:
    """Look at the deployed instances of a namespace (or only ``instance_ids``) in
    its target and store what was seen.

    1. read each instance's current revision (manifests decrypted here only);
    2. for a Kubernetes namespace, list each kind the revisions hold, by the portal's
       labels, once for the namespace (or by instance label for one instance);
    3. compare each applied object with its live one (deployments.live): sync,
       health, diff;
    4. replace the instance's ResourceState rows and its summary in one transaction.

    An unreachable cluster changes no row but the instances' ``live_error``.
    """
    namespace = Namespace.objects.select_related("cluster").get(pk=namespace_id)
    instances = list(
        Instance.objects.select_related("current_revision")
        .filter(namespace=namespace, status__in=_LOOKED_AT, current_revision__isnull=False)
        .filter(**({"pk__in": list(instance_ids)} if instance_ids is not None else {}))
    )
    if not instances:
        return RefreshResult(0, 0)
    if namespace.target != DeployTarget.KUBERNETES:
        for instance in instances:
            _store(instance, _committed(instance))
        return RefreshResult(len(instances), 0)
    target = kubernetes_target(namespace)
    try:
        with target.session() as session:
            seen = _look(session, namespace.name, instances)
    except TargetError as exc:
        _store_error(instances, str(exc))
        return RefreshResult(len(instances), target.requests, str(exc))
    for instance in instances:
        _store(instance, seen[instance.pk])
    return RefreshResult(len(instances), target.requests)


def live_refresh_all() -> int:
    """Queue a refresh of every namespace holding deployed instances (beat)."""
    from deployments.tasks import namespace_live_refresh_task
    from portal.queue import enqueue_on_commit

    ids = list(
        Namespace.objects.filter(instances__status__in=_LOOKED_AT)
        .values_list("pk", flat=True)
        .distinct()
    )
    for namespace_id in ids:
        enqueue_on_commit(namespace_live_refresh_task, namespace_id)
    return len(ids)


# --- looking ---------------------------------------------------------------------------


def _look(session: KubeSession, namespace: str, instances: list[Instance]) -> dict[int, list[Seen]]:
    wanted: dict[int, list[KubeObject]] = {}
    for instance in instances:
        wanted[instance.pk] = _applied_objects(session, namespace, instance)
    kinds = sorted(
        {(item.ref.api_version, item.ref.kind) for items in wanted.values() for item in items}
    )
    only = instances[0].name if len(instances) == 1 else ""
    selector = instance_selector(namespace=namespace, instance=only)
    live: dict[ObjectRef, dict[str, Any]] = {}
    for api_version, kind in kinds:
        live.update(session.list_objects(api_version, kind, namespace, selector))
    return {
        instance_id: [_seen(item, live.get(item.ref)) for item in items]
        for instance_id, items in wanted.items()
    }


def _applied_objects(session: KubeSession, namespace: str, instance: Instance) -> list[KubeObject]:
    revision = instance.current_revision
    assert revision is not None
    try:
        manifests = decrypt_json(revision.manifests_encrypted)
    except DecryptionFailed:
        return []
    try:
        return kube_objects(
            manifests, namespace=namespace, instance=instance.name, namespaced=session.namespaced
        )
    except TargetUnavailable:
        raise  # no answer from the cluster: said on the instance, not taken as "no objects"
    except TargetError:
        return []


def _seen(item: KubeObject, live: dict[str, Any] | None) -> Seen:
    if live is None:
        return Seen(item.ref, LiveSync.MISSING, LiveHealth.UNKNOWN, "not in the cluster")
    drift = resource_drift(item.body, live)
    health = resource_health(live)
    if drift.drifted:
        fields = ", ".join(drift.fields[:5]) + (" …" if len(drift.fields) > 5 else "")
        message = f"changed in the cluster: {fields}"
        if health.message:
            message += f"; {health.message}"
        return Seen(item.ref, LiveSync.DRIFTED, health.health, message, drift.diff)
    return Seen(item.ref, LiveSync.SYNCED, health.health, health.message)


def _committed(instance: Instance) -> list[Seen]:
    revision = instance.current_revision
    assert revision is not None
    namespace = instance.namespace.name
    return [
        Seen(
            ObjectRef(found["api_version"], found["kind"], namespace, found["name"]),
            LiveSync.COMMITTED,
            LiveHealth.UNKNOWN,
            "in the GitOps repository; its controller applies it",
        )
        for found in resources_of(revision.manifests_masked or {})
    ]


# --- storing ---------------------------------------------------------------------------


def _store(instance: Instance, seen: list[Seen]) -> None:
    now = timezone.now()
    sync = min((item.sync for item in seen), key=_SYNC_RANK.index, default=LiveSync.SYNCED)
    health = min((item.health for item in seen), key=_HEALTH_RANK.index, default=LiveHealth.HEALTHY)
    with transaction.atomic():
        ResourceState.objects.filter(instance=instance).delete()
        ResourceState.objects.bulk_create(
            ResourceState(
                instance=instance,
                position=position,
                api_version=item.ref.api_version,
                kind=item.ref.kind,
                namespace=item.ref.namespace,
                name=item.ref.name,
                sync=item.sync,
                health=item.health,
                message=item.message[:500],
                diff=item.diff,
                refreshed_at=now,
            )
            for position, item in enumerate(_unique(seen))
        )
        changed = (instance.live_sync, instance.live_health) != (sync, health)
        Instance.objects.filter(pk=instance.pk).update(
            live_sync=sync, live_health=health, live_checked_at=now, live_error=""
        )
        if changed:
            # Search documents carry the summary; only a change is worth a reindex.
            index_later("instance", [instance.pk])


def _store_error(instances: list[Instance], error: str) -> None:
    log.warning("live state of %s: %s", instances[0].namespace.name, error)
    Instance.objects.filter(pk__in=[instance.pk for instance in instances]).update(
        live_checked_at=timezone.now(), live_error=error[:500]
    )


def _unique(seen: list[Seen]) -> list[Seen]:
    """One row per object (two GitOps documents may name the same kind and name)."""
    found: dict[tuple[str, str, str, str], Seen] = {}
    for item in seen:
        found.setdefault(
            (item.ref.api_version, item.ref.kind, item.ref.namespace, item.ref.name), item
        )
    return list(found.values())
