"""Finding each instance's exporters in its cluster (SPEC section 10).

For every instance deployed into a namespace bound to target ``kubernetes``:

- the pods of the instance (``app.kubernetes.io/instance=<instance>`` in its
  namespace) labelled ``sreworks-prometheus-scrape-metric=enable``;
- the pods selected by the instance's Services labelled
  ``sreworks-telemetry-metric=enable``;

each only in phase ``Running`` and with a pod IP. The port is the annotation
``prometheus.io/port``, else the container port named ``metrics``, else the first
container port; the path is ``prometheus.io/path``, default ``/metrics``.

What is found replaces the instance's ScrapeTarget rows (a pod that is gone loses
its row; one still there keeps its health and last scrape). A cluster that cannot be
listed leaves its instances' rows as they were: a short outage of the API server
must not erase what the scrape rounds know.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from kubernetes import client

from deployments.kube import ClusterAccess, api_client
from deployments.models import Cluster, DeployTarget, Instance, InstanceStatus
from deployments.services.clusters import cluster_access
from portal.queue import enqueue_on_commit
from telemetry.models import ScrapeTarget, TargetHealth

log = logging.getLogger(__name__)

INSTANCE_LABEL = "app.kubernetes.io/instance"
POD_SCRAPE_LABEL = "sreworks-prometheus-scrape-metric=enable"
SERVICE_SCRAPE_LABEL = "sreworks-telemetry-metric=enable"
PORT_ANNOTATION = "prometheus.io/port"
PATH_ANNOTATION = "prometheus.io/path"
DEFAULT_PATH = "/metrics"
# An instance has pods while it runs, and still while an upgrade replaces them.
SCRAPED_STATUSES = (InstanceStatus.DEPLOYED, InstanceStatus.UPGRADING)


class DiscoveryFailed(Exception):
    """The cluster could not be listed; the message is one line for staff."""


@dataclass(frozen=True)
class FoundTarget:
    pod: str
    address: str  # ip:port ([ip]:port for IPv6), or the bare IP when the port is unreadable
    url: str  # "" when the annotations could not be read (error says why)
    found_by: str  # "pod" (its own label) or "service:<name>"
    error: str = ""


@dataclass
class DiscoveryReport:
    instances: int = 0
    targets: int = 0
    failed_clusters: dict[str, str] = field(default_factory=dict)


def pod_target(pod: Any, *, found_by: str) -> FoundTarget | None:
    """The exporter of one pod (a kubernetes V1Pod), or None when the pod is not
    Running or has no IP yet."""
    status = pod.status
    if status is None or status.phase != "Running" or not status.pod_ip:
        return None
    name = str(pod.metadata.name)
    try:
        ip = ipaddress.ip_address(str(status.pod_ip))
    except ValueError:
        return FoundTarget(name, str(status.pod_ip)[:100], "", found_by, "the pod IP is no IP")
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    annotations = pod.metadata.annotations or {}
    port, error = _port(annotations.get(PORT_ANNOTATION), pod.spec)
    if port is None:
        return FoundTarget(name, host, "", found_by, error)
    path = annotations.get(PATH_ANNOTATION) or DEFAULT_PATH
    if not _usable_path(path):
        return FoundTarget(
            name,
            f"{host}:{port}",
            "",
            found_by,
            f"annotation {PATH_ANNOTATION} is not a path starting with /",
        )
    return FoundTarget(name, f"{host}:{port}", f"http://{host}:{port}{path}", found_by)


def _port(annotation: str | None, spec: Any) -> tuple[int | None, str]:
    if annotation is not None:
        text = str(annotation).strip()
        if text.isascii() and text.isdigit() and 1 <= int(text) <= 65535:
            return int(text), ""
        return None, f"annotation {PORT_ANNOTATION} is not a port number: {text[:40]!r}"
    ports = [port for container in (spec.containers or []) for port in (container.ports or [])]
    for port in ports:
        if port.name == "metrics":
            return int(port.container_port), ""
    if ports:
        return int(ports[0].container_port), ""
    return None, f"the pod declares no container port and no {PORT_ANNOTATION} annotation"


def _usable_path(path: str) -> bool:
    # Printable ASCII without spaces: it goes into the request line as it is.
    return path.startswith("/") and len(path) <= 256 and all(0x21 <= ord(c) <= 0x7E for c in path)


def instance_targets_find(
    api: client.ApiClient, *, namespace: str, instance: str
) -> list[FoundTarget]:
    """The exporters of one instance, found by label (steps in the module docstring).
    A pod found both ways is listed once, as found by its own label."""
    core = client.CoreV1Api(api)
    timeout = _timeout()
    found: dict[tuple[str, str], FoundTarget] = {}

    def add(pods: Iterable[Any], found_by: str) -> None:
        for pod in pods:
            target = pod_target(pod, found_by=found_by)
            if target is not None:
                found.setdefault((target.pod, target.address), target)

    labelled = core.list_namespaced_pod(
        namespace,
        label_selector=f"{INSTANCE_LABEL}={instance},{POD_SCRAPE_LABEL}",
        _request_timeout=timeout,
    )
    add(labelled.items, "pod")
    services = core.list_namespaced_service(
        namespace,
        label_selector=f"{INSTANCE_LABEL}={instance},{SERVICE_SCRAPE_LABEL}",
        _request_timeout=timeout,
    )
    for service in services.items:
        selector = (service.spec and service.spec.selector) or {}
        if not selector:  # a Service without a selector selects no pod
            continue
        selected = core.list_namespaced_pod(
            namespace,
            label_selector=",".join(f"{key}={value}" for key, value in sorted(selector.items())),
            _request_timeout=timeout,
        )
        add(selected.items, f"service:{service.metadata.name}")
    return sorted(found.values(), key=lambda t: (t.pod, t.address))


def _timeout() -> tuple[float, float]:
    seconds = float(settings.CLUSTER_TIMEOUT_SECONDS)
    return (seconds, seconds)


def instance_targets_sync(*, instance: Instance, found: list[FoundTarget]) -> None:
    """Make the instance's ScrapeTarget rows what discovery found: new pods get rows
    of unknown health, gone pods lose theirs, the others keep their findings."""
    with transaction.atomic():
        existing = {
            (t.pod, t.address): t
            for t in ScrapeTarget.objects.filter(instance=instance).select_for_update()
        }
        wanted = {(t.pod, t.address): t for t in found}
        gone = [row.pk for key, row in existing.items() if key not in wanted]
        if gone:
            ScrapeTarget.objects.filter(pk__in=gone).delete()
        for key, target in wanted.items():
            row = existing.get(key)
            if row is None:
                ScrapeTarget.objects.create(
                    instance=instance,
                    pod=target.pod[:253],
                    address=target.address,
                    url=target.url,
                    found_by=target.found_by[:80],
                    health=TargetHealth.DOWN if target.error else TargetHealth.UNKNOWN,
                    last_error=target.error[:500],
                )
            elif (row.url, row.found_by) != (target.url, target.found_by[:80]) or (
                target.error and row.last_error != target.error
            ):
                row.url = target.url
                row.found_by = target.found_by[:80]
                if target.error:
                    row.health, row.last_error = TargetHealth.DOWN, target.error[:500]
                row.save(update_fields=["url", "found_by", "health", "last_error"])


def targets_discover() -> DiscoveryReport:
    """Find the exporters of every scraped instance, cluster by cluster (one client
    each), and drop the targets of instances no longer scraped."""
    report = DiscoveryReport()
    instances = list(
        Instance.objects.filter(
            status__in=SCRAPED_STATUSES,
            namespace__target=DeployTarget.KUBERNETES,
            namespace__cluster__isnull=False,
        ).select_related("namespace", "namespace__cluster")
    )
    # Instances uninstalled (or moved off Kubernetes) keep no targets to scrape.
    ScrapeTarget.objects.exclude(instance__in=[i.pk for i in instances]).delete()
    by_cluster: dict[int, list[Instance]] = defaultdict(list)
    clusters: dict[int, Cluster] = {}
    for instance in instances:
        cluster = instance.namespace.cluster
        assert cluster is not None  # filtered above
        clusters[cluster.pk] = cluster
        by_cluster[cluster.pk].append(instance)
    for cluster_id, members in by_cluster.items():
        cluster = clusters[cluster_id]
        try:
            report.targets += _cluster_targets_sync(cluster, members)
        except DiscoveryFailed as exc:
            log.warning("metrics discovery in cluster %s failed: %s", cluster.name, exc)
            report.failed_clusters[cluster.name] = str(exc)
            continue
        report.instances += len(members)
    return report


def instance_targets_discover(*, instance: Instance) -> int:
    """Find one instance's exporters now, after an operation on it ended, rather
    than at the next beat round (which stays the safety net).

    Steps: an instance no longer scraped (uninstalled, failed, moved off
    Kubernetes) loses its targets; otherwise its pods are listed and its rows made
    what was found. Answers the number of targets; DiscoveryFailed when the
    cluster cannot be listed (its rows are left as they were)."""
    cluster = instance.namespace.cluster
    if (
        instance.status not in SCRAPED_STATUSES
        or instance.namespace.target != DeployTarget.KUBERNETES
        or cluster is None
    ):
        ScrapeTarget.objects.filter(instance=instance).delete()
        return 0
    return _cluster_targets_sync(cluster, [instance])


def instance_targets_discover_later(*, instance: Instance) -> None:
    """Queue ``instance_targets_discover`` for after the current transaction commits
    (the workflow engine, when an operation's final state is written). Instances
    outside Kubernetes have no targets to find and queue nothing."""
    from telemetry.tasks import metrics_instance_discover_task  # tasks imports this module

    if instance.namespace.target == DeployTarget.KUBERNETES:
        enqueue_on_commit(metrics_instance_discover_task, instance.pk)


def _cluster_targets_sync(cluster: Cluster, instances: list[Instance]) -> int:
    """Find the exporters of ``instances`` (all in ``cluster``) with one client, then
    make each one's rows what was found; answers the number of targets. The beat's
    round and the discovery after an operation both come here. DiscoveryFailed
    when the cluster cannot be listed: every row is left as it was, none half-made."""
    found = _cluster_discover(cluster_access(cluster), instances)
    for instance, targets in found:
        instance_targets_sync(instance=instance, found=targets)
    return sum(len(targets) for _, targets in found)


def _cluster_discover(
    access: ClusterAccess, instances: list[Instance]
) -> list[tuple[Instance, list[FoundTarget]]]:
    found = []
    with api_client(access) as api:
        for instance in instances:
            try:
                targets = instance_targets_find(
                    api, namespace=instance.namespace.name, instance=instance.name
                )
            except client.ApiException as exc:
                if exc.status == 404:  # the Kubernetes namespace is not there (yet)
                    targets = []
                elif exc.status:
                    raise DiscoveryFailed(f"listing pods: {exc.status} {exc.reason}") from None
                else:
                    raise DiscoveryFailed(_cause(exc)) from None
            except Exception as exc:  # transport errors, the network guard's refusal
                raise DiscoveryFailed(_cause(exc)) from None
            found.append((instance, targets))
    return found


def _cause(exc: BaseException) -> str:
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return f"cannot list pods: {type(exc).__name__}: {exc}"[:500]
