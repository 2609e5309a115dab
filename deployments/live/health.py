"""Health of one live Kubernetes object, read from what its controllers wrote in
``status``, in the manner of Argo CD's health checks.

The input is the object as the API server returns it (a JSON dict) and nothing else: no
child objects are read, so a Deployment's health is what the Deployment controller
summed up, not a walk over its pods. Everything here is a pure function of that dict
and never raises on a malformed one (the dict comes from a cluster, not from us).

Four words, as SPEC section 9 says:

- ``healthy``: the object does what it was applied for (plain configuration always);
- ``progressing``: not there yet but moving (a rollout, a Pending PVC, a running Job, a
  spec the controller has not observed yet);
- ``degraded``: stuck or failed and will not recover by waiting (a progress deadline
  exceeded, CrashLoopBackOff, a failed Job, a lost volume);
- ``unknown``: the status cannot be read (a pod in phase Unknown, a malformed object).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HEALTHY = "healthy"
PROGRESSING = "progressing"
DEGRADED = "degraded"
UNKNOWN = "unknown"

MAX_MESSAGE = 300


@dataclass(frozen=True)
class Health:
    health: str  # HEALTHY, PROGRESSING, DEGRADED or UNKNOWN
    message: str  # one line for people, "" when there is nothing to add


def resource_health(live: dict[str, Any]) -> Health:
    """The health of ``live``:

    1. not an object with a kind: unknown;
    2. marked for deletion: progressing (a finalizer is still at work);
    3. a kind with its own rule (workloads, Pod, Job, PVC, Service, ...): that rule;
    4. any other kind: degraded if a standard ``Ready`` condition is False,
       progressing if it is Unknown, healthy otherwise (plain configuration).
    """
    if not isinstance(live, dict) or not isinstance(live.get("kind"), str):
        return Health(UNKNOWN, "not a Kubernetes object")
    if _get(live, "metadata", "deletionTimestamp"):
        return Health(PROGRESSING, "being deleted")
    rule = _RULES.get((_group(live), live["kind"]), _generic)
    result = rule(live)
    return Health(result.health, _one_line(result.message))


# --- workloads -------------------------------------------------------------------------


def _deployment(live: dict[str, Any]) -> Health:
    desired = _desired_replicas(live)
    status = _map(live, "status")
    paused = _get(live, "spec", "paused") is True
    # Nothing can be unavailable: healthy even before the controller looked (a server
    # without controllers never looks).
    if desired == 0:
        return Health(HEALTHY, "scaled to 0 replicas")
    if not _generation_observed(live):
        return Health(PROGRESSING, "rollout waiting: the controller has not seen this version")
    conditions = _conditions(live)
    progressing = conditions.get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(
            DEGRADED, _with_detail("rollout stuck: progress deadline exceeded", progressing)
        )
    failure = conditions.get("ReplicaFailure", {})
    if failure.get("status") == "True":
        return Health(DEGRADED, _with_detail("cannot create pods", failure))
    updated = _int(status.get("updatedReplicas"))
    replicas = _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))
    waiting = "rollout paused" if paused else "rollout waiting"
    if updated < desired:
        return Health(PROGRESSING, f"{waiting}: {updated} of {desired} updated")
    if replicas > updated:
        return Health(
            PROGRESSING,
            f"{waiting}: {replicas - updated} old {_replicas(replicas - updated)} "
            "pending termination",
        )
    if available < updated:
        return Health(PROGRESSING, f"{available} of {desired} replicas available")
    paused_note = ", rollout paused" if paused else ""
    return Health(HEALTHY, f"{available} of {desired} replicas available{paused_note}")


def _statefulset(live: dict[str, Any]) -> Health:
    desired = _desired_replicas(live)
    status = _map(live, "status")
    if desired == 0:
        return Health(HEALTHY, "scaled to 0 replicas")
    if not _generation_observed(live):
        return Health(PROGRESSING, "rollout waiting: the controller has not seen this version")
    ready = _int(status.get("readyReplicas"))
    updated = _int(status.get("updatedReplicas"))
    if ready < desired:
        return Health(PROGRESSING, f"{ready} of {desired} replicas ready")
    strategy = _map(live, "spec", "updateStrategy")
    if strategy.get("type") == "OnDelete":
        # Pods change only when someone deletes them: nothing to wait for.
        return Health(HEALTHY, f"{ready} of {desired} replicas ready (updated on delete)")
    partition = _int(_get(strategy, "rollingUpdate", "partition"))
    if partition > 0:
        wanted = max(desired - partition, 0)
        if updated < wanted:
            return Health(PROGRESSING, f"rollout waiting: {updated} of {wanted} updated")
        return Health(HEALTHY, f"{ready} of {desired} replicas ready ({wanted} past partition)")
    if updated < desired:
        return Health(PROGRESSING, f"rollout waiting: {updated} of {desired} updated")
    if status.get("updateRevision") != status.get("currentRevision"):
        return Health(PROGRESSING, "rollout waiting: finishing the update")
    return Health(HEALTHY, f"{ready} of {desired} replicas ready")


def _daemonset(live: dict[str, Any]) -> Health:
    status = _map(live, "status")
    if not _generation_observed(live):
        return Health(PROGRESSING, "rollout waiting: the controller has not seen this version")
    desired = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    available = _int(status.get("numberAvailable"))
    on_delete = _get(live, "spec", "updateStrategy", "type") == "OnDelete"
    if updated < desired and not on_delete:
        return Health(PROGRESSING, f"rollout waiting: {updated} of {desired} updated")
    if available < desired:
        return Health(PROGRESSING, f"{available} of {desired} pods available")
    return Health(HEALTHY, f"{available} of {desired} pods available")


def _replicaset(live: dict[str, Any]) -> Health:
    desired = _desired_replicas(live)
    if desired == 0:
        return Health(HEALTHY, "scaled to 0 replicas")
    if not _generation_observed(live):
        return Health(PROGRESSING, "waiting: the controller has not seen this version")
    failure = _conditions(live).get("ReplicaFailure", {})
    if failure.get("status") == "True":
        return Health(DEGRADED, _with_detail("cannot create pods", failure))
    available = _int(_get(live, "status", "availableReplicas"))
    if available < desired:
        return Health(PROGRESSING, f"{available} of {desired} replicas available")
    return Health(HEALTHY, f"{available} of {desired} replicas available")


def _job(live: dict[str, Any]) -> Health:
    conditions = _conditions(live)
    # FailureTarget / SuccessCriteriaMet come first and are final (Kubernetes 1.31+); the
    # Failed / Complete that follow only say the pods are gone.
    for kind in ("Failed", "FailureTarget"):
        failed = conditions.get(kind, {})
        if failed.get("status") == "True":
            reason = str(failed.get("reason") or "failed")
            return Health(DEGRADED, _with_detail(f"Job failed: {reason}", failed))
    for kind in ("Complete", "SuccessCriteriaMet"):
        if conditions.get(kind, {}).get("status") == "True":
            succeeded = _int(_get(live, "status", "succeeded"))
            return Health(HEALTHY, f"Job complete ({succeeded} succeeded)")
    if _get(live, "spec", "suspend") is True:
        return Health(HEALTHY, "Job suspended")
    status = _map(live, "status")
    active = _int(status.get("active"))
    succeeded = _int(status.get("succeeded"))
    completions = _get(live, "spec", "completions")
    done = f"{succeeded} of {completions}" if isinstance(completions, int) else str(succeeded)
    return Health(PROGRESSING, f"Job running: {active} active, {done} succeeded")


def _cronjob(live: dict[str, Any]) -> Health:
    if _get(live, "spec", "suspend") is True:
        return Health(HEALTHY, "suspended")
    last = _get(live, "status", "lastScheduleTime")
    return Health(HEALTHY, f"last run {last}" if last else "not run yet")


def _pod(live: dict[str, Any]) -> Health:
    status = _map(live, "status")
    containers = _list(status.get("initContainerStatuses")) + _list(status.get("containerStatuses"))
    for container in containers:
        waiting = _map(container, "state", "waiting")
        reason = str(waiting.get("reason") or "")
        if _is_failing_wait(reason):
            name = container.get("name") or "?"
            return Health(DEGRADED, _with_detail(f"container {name}: {reason}", waiting))
    phase = status.get("phase")
    detail = str(status.get("message") or status.get("reason") or "")
    if phase == "Succeeded":
        return Health(HEALTHY, detail or "completed")
    if phase == "Failed":
        return Health(DEGRADED, detail or _termination(containers) or "failed")
    if phase == "Pending" or phase is None:
        return Health(PROGRESSING, detail or "pending")
    if phase == "Running":
        if _get(live, "spec", "restartPolicy") not in (None, "Always"):
            # A pod that runs to completion is on its way until it ends.
            return Health(PROGRESSING, "running to completion")
        if _conditions(live).get("Ready", {}).get("status") == "True":
            return Health(HEALTHY, "running and ready")
        if any(_map(c, "lastState", "terminated") for c in containers):
            return Health(DEGRADED, _termination(containers, last=True) or "restarting, not ready")
        return Health(PROGRESSING, "running, not ready yet")
    return Health(UNKNOWN, detail or f"phase {phase}")


def _is_failing_wait(reason: str) -> bool:
    # CrashLoopBackOff, ImagePullBackOff, ErrImagePull, CreateContainerConfigError, ...
    # ContainerCreating and PodInitializing are the normal waits.
    return (
        reason.startswith("Err")
        or reason.endswith(("BackOff", "Error"))
        or (reason == "InvalidImageName")
    )


def _termination(containers: list[dict[str, Any]], *, last: bool = False) -> str:
    for container in containers:
        ended = _map(container, "lastState" if last else "state", "terminated")
        if not ended:
            continue
        name = container.get("name") or "?"
        if ended.get("reason") == "OOMKilled":
            return f"container {name}: OOMKilled"
        if ended.get("message"):
            return f"container {name}: {ended['message']}"
        code = _int(ended.get("exitCode"))
        if code:
            return f"container {name} exited with code {code}"
    return ""


# --- storage, network, autoscaling, namespaces ------------------------------------------


def _pvc(live: dict[str, Any]) -> Health:
    phase = _get(live, "status", "phase")
    if phase == "Bound":
        return Health(HEALTHY, "bound")
    if phase == "Lost":
        return Health(DEGRADED, "volume lost")
    if phase in ("Pending", None):
        return Health(PROGRESSING, "waiting for a volume")
    return Health(UNKNOWN, f"phase {phase}")


def _service(live: dict[str, Any]) -> Health:
    if _get(live, "spec", "type") != "LoadBalancer":
        return Health(HEALTHY, "")
    ingress = _list(_get(live, "status", "loadBalancer", "ingress"))
    if not ingress:
        return Health(PROGRESSING, "waiting for a load balancer address")
    return Health(HEALTHY, f"load balancer at {_addresses(ingress)}")


def _ingress(live: dict[str, Any]) -> Health:
    # Some controllers never write an address: the Ingress still routes.
    ingress = _list(_get(live, "status", "loadBalancer", "ingress"))
    return Health(HEALTHY, f"address {_addresses(ingress)}" if ingress else "")


def _addresses(ingress: list[dict[str, Any]]) -> str:
    return ", ".join(str(i.get("ip") or i.get("hostname") or "?") for i in ingress[:3])


def _hpa(live: dict[str, Any]) -> Health:
    conditions = _conditions(live)
    able = conditions.get("AbleToScale", {})
    active = conditions.get("ScalingActive", {})
    if able.get("status") == "False":
        return Health(DEGRADED, _with_detail("cannot scale", able))
    # ScalingDisabled: the target was scaled to 0 on purpose.
    if active.get("status") == "False" and active.get("reason") != "ScalingDisabled":
        return Health(DEGRADED, _with_detail("cannot read its metrics", active))
    if able.get("status") == "True":
        status = _map(live, "status")
        current = _int(status.get("currentReplicas"))
        wanted = _int(status.get("desiredReplicas"))
        return Health(HEALTHY, f"{current} replicas (wants {wanted})")
    return Health(PROGRESSING, "waiting for the autoscaler's first reading")


def _namespace(live: dict[str, Any]) -> Health:
    if _get(live, "status", "phase") == "Terminating":
        return Health(PROGRESSING, "being deleted")
    return Health(HEALTHY, "")


def _generic(live: dict[str, Any]) -> Health:
    ready = _conditions(live).get("Ready")
    if ready is None:
        return Health(HEALTHY, "")
    if ready.get("status") == "False":
        return Health(DEGRADED, _with_detail("not ready", ready))
    if ready.get("status") == "True":
        return Health(HEALTHY, str(ready.get("message") or ""))
    return Health(PROGRESSING, _with_detail("readiness unknown", ready))


_RULES: dict[tuple[str, str], Callable[[dict[str, Any]], Health]] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset,
    ("", "ReplicationController"): _replicaset,
    ("batch", "Job"): _job,
    ("batch", "CronJob"): _cronjob,
    ("", "Pod"): _pod,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
    ("networking.k8s.io", "Ingress"): _ingress,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
    ("", "Namespace"): _namespace,
}


# --- reading a dict that may hold anything ----------------------------------------------


def _group(live: dict[str, Any]) -> str:
    api_version = live.get("apiVersion")
    if not isinstance(api_version, str) or "/" not in api_version:
        return ""  # the core group: "v1"
    return api_version.split("/", 1)[0]


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _map(obj: Any, *keys: str) -> dict[str, Any]:
    value = _get(obj, *keys)
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _int(value: Any) -> int:
    # bool is an int to Python, not to Kubernetes.
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _desired_replicas(live: dict[str, Any]) -> int:
    replicas = _get(live, "spec", "replicas")
    # The server defaults a missing count to 1; a non-number counts as that default.
    return replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else 1


def _generation_observed(live: dict[str, Any]) -> bool:
    observed = _int(_get(live, "status", "observedGeneration"))
    return observed > 0 and _int(_get(live, "metadata", "generation")) <= observed


def _conditions(live: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_type: dict[str, dict[str, Any]] = {}
    for condition in _list(_get(live, "status", "conditions")):
        if isinstance(condition.get("type"), str):
            by_type[condition["type"]] = condition
    return by_type


def _with_detail(summary: str, condition: dict[str, Any]) -> str:
    detail = condition.get("message")
    return f"{summary} ({detail})" if isinstance(detail, str) and detail else summary


def _replicas(count: int) -> str:
    return "replica" if count == 1 else "replicas"


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
