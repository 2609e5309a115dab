"""Health of live objects: statuses written through the real API server's ``/status``
subresource as a controller would (none runs on the test server), and the rules for
kinds and corner cases on their own."""

from __future__ import annotations

from typing import Any

import pytest

from deployments.live import DEGRADED, HEALTHY, PROGRESSING, UNKNOWN, Health, resource_health
from deployments.live.health import MAX_MESSAGE
from tests.deployments.kube_live import KubeNamespace, unique_name

NOW = "2026-01-01T00:00:00Z"


def deployment(replicas: int = 3, image: str = "shop:1.2") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def job() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": unique_name("migrate")},
        "spec": {
            "backoffLimit": 2,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "shop:1.2"}],
                }
            },
        },
    }


def rollout(generation: int, *, updated: int, ready: int, available: int, replicas: int = 3):
    return {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
    }


# --- against the API server -------------------------------------------------------------


def test_a_deployment_progresses_then_is_healthy_once_every_replica_is_available(
    kube_namespace: KubeNamespace,
) -> None:
    applied = deployment()
    live = kube_namespace.apply(applied)
    assert resource_health(live) == Health(
        PROGRESSING, "rollout waiting: the controller has not seen this version"
    )

    live = kube_namespace.write_status(applied, rollout(1, updated=1, ready=0, available=0))
    assert resource_health(live) == Health(PROGRESSING, "rollout waiting: 1 of 3 updated")

    live = kube_namespace.write_status(applied, rollout(1, updated=3, ready=2, available=2))
    assert resource_health(live) == Health(PROGRESSING, "2 of 3 replicas available")

    live = kube_namespace.write_status(applied, rollout(1, updated=3, ready=3, available=3))
    assert resource_health(live) == Health(HEALTHY, "3 of 3 replicas available")

    # A new version: the old status no longer speaks for it.
    live = kube_namespace.apply(deployment(image="shop:1.3"))
    assert live["metadata"]["generation"] == 2
    assert resource_health(live).health == PROGRESSING


def test_a_deployment_past_its_progress_deadline_is_degraded(
    kube_namespace: KubeNamespace,
) -> None:
    applied = deployment()
    kube_namespace.apply(applied)
    status = rollout(1, updated=1, ready=0, available=0)
    status["conditions"] = [
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": 'ReplicaSet "web-5d4f" has timed out progressing.',
            "lastUpdateTime": NOW,
            "lastTransitionTime": NOW,
        }
    ]
    live = kube_namespace.write_status(applied, status)

    assert resource_health(live) == Health(
        DEGRADED,
        'rollout stuck: progress deadline exceeded (ReplicaSet "web-5d4f" has timed out '
        "progressing.)",
    )


def test_a_deployment_scaled_to_zero_is_healthy(kube_namespace: KubeNamespace) -> None:
    live = kube_namespace.apply(deployment(replicas=0))
    assert resource_health(live) == Health(HEALTHY, "scaled to 0 replicas")


def test_a_job_runs_then_completes(kube_namespace: KubeNamespace) -> None:
    applied = job()
    live = kube_namespace.apply(applied)
    assert resource_health(live) == Health(PROGRESSING, "Job running: 0 active, 0 of 1 succeeded")

    live = kube_namespace.write_status(applied, {"startTime": NOW, "active": 1})
    assert resource_health(live) == Health(PROGRESSING, "Job running: 1 active, 0 of 1 succeeded")

    done = [
        {
            "type": kind,
            "status": "True",
            "reason": "CompletionsReached",
            "message": "Reached expected number of succeeded pods",
        }
        for kind in ("SuccessCriteriaMet", "Complete")
    ]
    live = kube_namespace.write_status(
        applied,
        {"active": 0, "succeeded": 1, "completionTime": NOW, "conditions": done},
    )
    assert resource_health(live) == Health(HEALTHY, "Job complete (1 succeeded)")


def test_a_failed_job_is_degraded_with_its_reason(kube_namespace: KubeNamespace) -> None:
    applied = job()
    kube_namespace.apply(applied)
    failed = [
        {
            "type": kind,
            "status": "True",
            "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit",
        }
        for kind in ("FailureTarget", "Failed")
    ]
    live = kube_namespace.write_status(
        applied, {"startTime": NOW, "failed": 3, "conditions": failed}
    )

    assert resource_health(live) == Health(
        DEGRADED, "Job failed: BackoffLimitExceeded (Job has reached the specified backoff limit)"
    )


def test_a_claim_is_pending_until_bound_and_degraded_when_lost(
    kube_namespace: KubeNamespace,
) -> None:
    applied = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    live = kube_namespace.apply(applied)
    assert live["status"]["phase"] == "Pending"
    assert resource_health(live) == Health(PROGRESSING, "waiting for a volume")

    live = kube_namespace.write_status(applied, {"phase": "Bound"})
    assert resource_health(live) == Health(HEALTHY, "bound")

    live = kube_namespace.write_status(applied, {"phase": "Lost"})
    assert resource_health(live) == Health(DEGRADED, "volume lost")


def test_a_pod_in_crash_loop_is_degraded_and_healthy_once_running_and_ready(
    kube_namespace: KubeNamespace,
) -> None:
    # No controller creates the default ServiceAccount here; without it pods are refused.
    kube_namespace.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
    )
    applied = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "app", "image": "shop:1.2"}]},
    }
    live = kube_namespace.apply(applied)
    assert resource_health(live).health == PROGRESSING

    container = {"name": "app", "image": "shop:1.2", "imageID": "", "ready": False}
    crashing = {
        **container,
        "restartCount": 4,
        "state": {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": "back-off 1m20s restarting failed container=app",
            }
        },
        "lastState": {
            "terminated": {"exitCode": 1, "reason": "Error", "startedAt": NOW, "finishedAt": NOW}
        },
    }
    live = kube_namespace.write_status(
        applied, {"phase": "Running", "containerStatuses": [crashing]}
    )
    assert resource_health(live) == Health(
        DEGRADED, "container app: CrashLoopBackOff (back-off 1m20s restarting failed container=app)"
    )

    running = {
        **container,
        "ready": True,
        "restartCount": 4,
        "state": {"running": {"startedAt": NOW}},
    }
    live = kube_namespace.write_status(
        applied,
        {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": NOW}],
            "containerStatuses": [running],
        },
    )
    assert resource_health(live) == Health(HEALTHY, "running and ready")


def test_a_load_balancer_service_waits_for_its_address(kube_namespace: KubeNamespace) -> None:
    applied = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    live = kube_namespace.apply(applied)
    assert resource_health(live) == Health(PROGRESSING, "waiting for a load balancer address")

    live = kube_namespace.write_status(
        applied, {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}
    )
    assert resource_health(live) == Health(HEALTHY, "load balancer at 203.0.113.10")


def test_a_statefulset_is_healthy_once_its_replicas_are_ready_at_the_current_revision(
    kube_namespace: KubeNamespace,
) -> None:
    applied = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "postgres:16"}]},
            },
        },
    }
    kube_namespace.apply(applied)
    status = {
        "observedGeneration": 1,
        "replicas": 2,
        "readyReplicas": 1,
        "currentReplicas": 2,
        "updatedReplicas": 2,
        "currentRevision": "db-1",
        "updateRevision": "db-1",
        "availableReplicas": 1,
    }
    live = kube_namespace.write_status(applied, status)
    assert resource_health(live) == Health(PROGRESSING, "1 of 2 replicas ready")

    live = kube_namespace.write_status(applied, {"readyReplicas": 2, "availableReplicas": 2})
    assert resource_health(live) == Health(HEALTHY, "2 of 2 replicas ready")


def test_plain_configuration_and_the_namespace_are_healthy(
    kube_namespace: KubeNamespace,
) -> None:
    config = kube_namespace.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    )
    namespace = kube_namespace.get({"kind": "Namespace", "metadata": {"name": kube_namespace.name}})
    assert resource_health(config) == Health(HEALTHY, "")
    assert resource_health(namespace) == Health(HEALTHY, "")


# --- rules on their own -----------------------------------------------------------------


def obj(api_version: str, kind: str, spec: Any = None, status: Any = None, **meta: Any):
    live: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    if spec is not None:
        live["spec"] = spec
    if status is not None:
        live["status"] = status
    return live


def test_a_paused_rollout_says_so() -> None:
    live = obj(
        "apps/v1",
        "Deployment",
        {"replicas": 2, "paused": True},
        rollout(1, updated=1, ready=2, available=2, replicas=2),
        generation=1,
    )
    assert resource_health(live) == Health(PROGRESSING, "rollout paused: 1 of 2 updated")
    live["status"]["updatedReplicas"] = 2
    live["status"]["replicas"] = 2
    assert resource_health(live) == Health(HEALTHY, "2 of 2 replicas available, rollout paused")


def test_old_replicas_still_terminating_keep_a_rollout_progressing() -> None:
    live = obj(
        "apps/v1",
        "Deployment",
        {"replicas": 2},
        rollout(1, updated=2, ready=3, available=3, replicas=3),
        generation=1,
    )
    assert resource_health(live) == Health(
        PROGRESSING, "rollout waiting: 1 old replica pending termination"
    )


def test_a_replica_failure_is_degraded() -> None:
    condition = {"type": "ReplicaFailure", "status": "True", "message": "exceeded quota: pods"}
    for kind in ("Deployment", "ReplicaSet"):
        live = obj(
            "apps/v1",
            kind,
            {"replicas": 2},
            {"observedGeneration": 1, "conditions": [condition]},
            generation=1,
        )
        assert resource_health(live) == Health(
            DEGRADED, "cannot create pods (exceeded quota: pods)"
        )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"observedGeneration": 1}, Health(HEALTHY, "0 of 0 pods available")),
        (
            {
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 2,
                "numberAvailable": 3,
            },
            Health(PROGRESSING, "rollout waiting: 2 of 3 updated"),
        ),
        (
            {
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberAvailable": 1,
            },
            Health(PROGRESSING, "1 of 3 pods available"),
        ),
        (
            {
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberAvailable": 3,
            },
            Health(HEALTHY, "3 of 3 pods available"),
        ),
        ({}, Health(PROGRESSING, "rollout waiting: the controller has not seen this version")),
    ],
)
def test_daemonset_health(status: dict, expected: Health) -> None:
    assert resource_health(obj("apps/v1", "DaemonSet", {}, status, generation=1)) == expected


def test_a_statefulset_partition_waits_only_for_the_pods_past_it() -> None:
    spec = {
        "replicas": 4,
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
    }
    status = {
        "observedGeneration": 1,
        "readyReplicas": 4,
        "updatedReplicas": 1,
        "currentRevision": "a",
        "updateRevision": "b",
    }
    live = obj("apps/v1", "StatefulSet", spec, status, generation=1)
    assert resource_health(live) == Health(PROGRESSING, "rollout waiting: 1 of 2 updated")

    live["status"]["updatedReplicas"] = 2
    assert resource_health(live).health == HEALTHY


def test_a_statefulset_between_revisions_is_progressing_unless_updated_on_delete() -> None:
    status = {
        "observedGeneration": 1,
        "readyReplicas": 1,
        "updatedReplicas": 1,
        "currentRevision": "a",
        "updateRevision": "b",
    }
    live = obj("apps/v1", "StatefulSet", {"replicas": 1}, status, generation=1)
    assert resource_health(live) == Health(PROGRESSING, "rollout waiting: finishing the update")
    live["spec"]["updateStrategy"] = {"type": "OnDelete"}
    assert resource_health(live).health == HEALTHY


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (
            {
                "status": {
                    "phase": "Pending",
                    "initContainerStatuses": [
                        {"name": "init", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
                    ],
                }
            },
            Health(DEGRADED, "container init: ImagePullBackOff"),
        ),
        (
            {
                "status": {
                    "phase": "Pending",
                    "containerStatuses": [
                        {"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}
                    ],
                }
            },
            Health(PROGRESSING, "pending"),
        ),
        (
            {"spec": {"restartPolicy": "Never"}, "status": {"phase": "Running"}},
            Health(PROGRESSING, "running to completion"),
        ),
        (
            {
                "spec": {"restartPolicy": "Always"},
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {
                            "name": "app",
                            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                        }
                    ],
                },
            },
            Health(DEGRADED, "container app: OOMKilled"),
        ),
        (
            {
                "status": {
                    "phase": "Failed",
                    "containerStatuses": [
                        {"name": "app", "state": {"terminated": {"exitCode": 3}}}
                    ],
                }
            },
            Health(DEGRADED, "container app exited with code 3"),
        ),
        ({"status": {"phase": "Succeeded"}}, Health(HEALTHY, "completed")),
        ({"status": {"phase": "Unknown"}}, Health(UNKNOWN, "phase Unknown")),
    ],
)
def test_pod_health(pod: dict, expected: Health) -> None:
    assert resource_health({"apiVersion": "v1", "kind": "Pod", "metadata": {}, **pod}) == expected


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([], Health(PROGRESSING, "waiting for the autoscaler's first reading")),
        (
            [
                {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
                {
                    "type": "ScalingActive",
                    "status": "False",
                    "reason": "FailedGetResourceMetric",
                    "message": "no metrics returned",
                },
            ],
            Health(DEGRADED, "cannot read its metrics (no metrics returned)"),
        ),
        (
            [{"type": "AbleToScale", "status": "False", "reason": "FailedGetScale"}],
            Health(DEGRADED, "cannot scale"),
        ),
        (
            [
                {"type": "AbleToScale", "status": "True"},
                {"type": "ScalingActive", "status": "False", "reason": "ScalingDisabled"},
            ],
            Health(HEALTHY, "2 replicas (wants 2)"),
        ),
    ],
)
def test_autoscaler_health(conditions: list, expected: Health) -> None:
    status = {"currentReplicas": 2, "desiredReplicas": 2, "conditions": conditions}
    live = obj("autoscaling/v2", "HorizontalPodAutoscaler", {}, status)
    assert resource_health(live) == expected


def test_cron_jobs_ingresses_and_terminating_namespaces() -> None:
    assert resource_health(obj("batch/v1", "CronJob", {"suspend": True})) == Health(
        HEALTHY, "suspended"
    )
    assert resource_health(obj("networking.k8s.io/v1", "Ingress", {}, {})) == Health(HEALTHY, "")
    terminating = obj("v1", "Namespace", {}, {"phase": "Terminating"})
    assert resource_health(terminating) == Health(PROGRESSING, "being deleted")


def test_any_object_being_deleted_is_progressing() -> None:
    live = obj("v1", "ConfigMap", deletionTimestamp=NOW, finalizers=["x/y"])
    assert resource_health(live) == Health(PROGRESSING, "being deleted")


def test_another_kind_follows_its_ready_condition() -> None:
    ready = {"type": "Ready", "status": "False", "reason": "Invalid", "message": "bad\n  spec"}
    certificate = obj("cert-manager.io/v1", "Certificate", {}, {"conditions": [ready]})
    assert resource_health(certificate) == Health(DEGRADED, "not ready (bad spec)")
    ready["status"] = "True"
    assert resource_health(certificate).health == HEALTHY


@pytest.mark.parametrize(
    "live",
    [
        None,
        "Deployment",
        {"kind": 3},
        {"apiVersion": "apps/v1", "kind": "Deployment", "spec": "x", "status": ["y"]},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": [],
            "spec": {"replicas": True},
            "status": {"observedGeneration": "1", "conditions": ["x", {"type": 1}]},
        },
        {"apiVersion": "v1", "kind": "Pod", "status": {"containerStatuses": "x"}},
        {"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": {"type": "Failed"}}},
    ],
)
def test_a_malformed_object_never_raises(live: Any) -> None:
    result = resource_health(live)
    assert result.health in (HEALTHY, PROGRESSING, DEGRADED, UNKNOWN)


def test_a_message_is_one_bounded_line() -> None:
    ready = {"type": "Ready", "status": "False", "message": "line\n" * 500}
    message = resource_health(obj("example.com/v1", "Thing", {}, {"conditions": [ready]})).message
    assert "\n" not in message and len(message) == MAX_MESSAGE and message.endswith("…")
