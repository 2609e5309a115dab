"""Drift between what the portal applied and the live object: against the real API
server (its defaults and rewrites must never read as drift; a hand edit must), and the
normalisation edge cases on their own."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from deployments.live import DRIFTED, MISSING, SYNCED, resource_drift, resource_sync
from deployments.live.drift import CHANGED_MASK, MASK, MAX_DIFF_LINES
from tests.deployments.kube_live import KubeNamespace, unique_name

LABELS = {
    "app.kubernetes.io/managed-by": "ops-market",
    "app.kubernetes.io/instance": "shop",
    "opsmarket.io/namespace": "pay-prod",
}


def labelled(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("labels", {}).update(LABELS)
    return obj


def deployment() -> dict[str, Any]:
    return labelled(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {"opsmarket.io/revision": "3"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "hostNetwork": False,
                        "securityContext": {},
                        "initContainers": [
                            {"name": "migrate", "image": "shop:1.2", "command": ["migrate"]}
                        ],
                        "containers": [
                            {
                                "name": "app",
                                "image": "shop:1.2",
                                "args": ["--port", "8080"],
                                "ports": [{"containerPort": 8080, "name": "http"}],
                                "env": [
                                    {"name": "MODE", "value": "production"},
                                    {"name": "EMPTY", "value": ""},
                                    {
                                        "name": "TOKEN",
                                        "valueFrom": {
                                            "secretKeyRef": {"name": "shop", "key": "token"}
                                        },
                                    },
                                ],
                                "resources": {
                                    "requests": {"cpu": 0.5, "memory": "1024Mi"},
                                    "limits": {"cpu": "1000m", "memory": 2147483648},
                                },
                                "readinessProbe": {
                                    "httpGet": {"path": "/health", "port": "http"},
                                    "initialDelaySeconds": 0,
                                },
                                "livenessProbe": {"tcpSocket": {"port": 8080}},
                                "volumeMounts": [
                                    {"name": "config", "mountPath": "/etc/shop"},
                                    {"name": "config", "mountPath": "/etc/shop-copy"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "config", "configMap": {"name": "shop"}},
                            {"name": "scratch", "emptyDir": {"sizeLimit": "0.5Gi"}},
                        ],
                    },
                },
            },
        }
    )


def service() -> dict[str, Any]:
    return labelled(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "http"},
                    {"name": "metrics", "port": 9090, "targetPort": 9090},
                ],
            },
        }
    )


def config_map() -> dict[str, Any]:
    return labelled(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shop"},
            "data": {
                "greeting": "hello",
                "ratio": "0.5",
                "shop.yaml": "listen: 8080\nworkers: 4\n",
            },
        }
    )


def secret() -> dict[str, Any]:
    return labelled(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "shop"},
            "type": "Opaque",
            "stringData": {"password": "correct-horse", "token": "tok-1234"},
            "data": {"api-key": base64.b64encode(b"key-5678").decode()},
        }
    )


def cluster_role() -> dict[str, Any]:
    return labelled(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": unique_name("shop-reader")},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
            ],
        }
    )


def pvc() -> dict[str, Any]:
    return labelled(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1024Mi"}},
            },
        }
    )


def job() -> dict[str, Any]:
    return labelled(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "migrate"},
            "spec": {
                "backoffLimit": 2,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {"name": "migrate", "image": "shop:1.2", "command": ["migrate"]}
                        ],
                    }
                },
            },
        }
    )


def statefulset() -> dict[str, Any]:
    return labelled(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "db", "image": "postgres:16"}]},
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "10Gi"}},
                        },
                    }
                ],
            },
        }
    )


def ingress() -> dict[str, Any]:
    return labelled(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web"},
            "spec": {
                "rules": [
                    {
                        "host": "shop.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": "web", "port": {"name": "http"}}
                                    },
                                }
                            ]
                        },
                    }
                ]
            },
        }
    )


MANIFESTS = [deployment, service, config_map, secret, cluster_role, pvc, job, statefulset, ingress]


# --- against the API server -------------------------------------------------------------


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda m: m.__name__)
def test_a_freshly_applied_object_is_not_drifted_despite_the_servers_defaults(
    kube_namespace: KubeNamespace, manifest: Any
) -> None:
    applied = manifest()
    live = kube_namespace.apply(applied)
    again = kube_namespace.get(applied)

    assert resource_drift(applied, live).drifted is False
    drift = resource_drift(applied, again)
    assert drift == resource_drift(applied, live)
    assert (drift.drifted, drift.fields, drift.diff) == (False, [], "")
    assert resource_sync(applied, again) == SYNCED


def test_a_secret_given_as_string_data_is_stored_as_data_and_not_drifted(
    kube_namespace: KubeNamespace,
) -> None:
    applied = secret()
    live = kube_namespace.apply(applied)

    # The rewrite the normalisation is for: no stringData left, all of it base64 data.
    assert "stringData" not in live
    assert base64.b64decode(live["data"]["password"]) == b"correct-horse"
    assert resource_drift(applied, live).drifted is False


def test_replicas_scaled_by_hand_are_drift(kube_namespace: KubeNamespace) -> None:
    applied = deployment()
    kube_namespace.apply(applied)
    live = kube_namespace.edit(applied, {"spec": {"replicas": 5}})

    drift = resource_drift(applied, live)
    assert drift.drifted is True
    assert drift.fields == ["spec.replicas"]
    assert "-  replicas: 3\n+  replicas: 5\n" in drift.diff
    assert drift.diff.startswith("--- applied\n+++ live\n")
    # Equal values print alike: the canonical quantities make no line of the diff.
    assert "500m" not in drift.diff and "1Gi" not in drift.diff
    assert resource_sync(applied, live) == DRIFTED


def test_an_image_changed_with_kubectl_edit_is_drift_named_by_container(
    kube_namespace: KubeNamespace,
) -> None:
    applied = deployment()
    kube_namespace.apply(applied)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "evil:1"}]}}}}
    live = kube_namespace.edit(applied, patch, strategic=True)

    drift = resource_drift(applied, live)
    assert drift.fields == ["spec.template.spec.containers[name=app].image"]
    assert "       - name: app\n-        image: shop:1.2\n+        image: evil:1\n" in drift.diff


def test_a_config_map_value_changed_by_hand_is_drift(kube_namespace: KubeNamespace) -> None:
    applied = config_map()
    kube_namespace.apply(applied)
    live = kube_namespace.edit(applied, {"data": {"shop.yaml": "listen: 8080\nworkers: 64\n"}})

    drift = resource_drift(applied, live)
    assert drift.fields == ['data["shop.yaml"]']
    # A multi-line value diffs line by line.
    assert "-    workers: 4\n+    workers: 64\n" in drift.diff


def test_a_secret_value_changed_by_hand_is_drift_and_the_diff_shows_no_value(
    kube_namespace: KubeNamespace,
) -> None:
    applied = secret()
    kube_namespace.apply(applied)
    changed = base64.b64encode(b"stolen-horse").decode()
    live = kube_namespace.edit(applied, {"data": {"password": changed}})

    drift = resource_drift(applied, live)
    assert drift.drifted is True
    assert drift.fields == ["data.password"]
    assert f"-  password: '{MASK}'" in drift.diff
    assert f"+  password: '{CHANGED_MASK}'" in drift.diff
    for value in (b"correct-horse", b"stolen-horse", b"tok-1234", b"key-5678"):
        assert value.decode() not in drift.diff
        assert base64.b64encode(value).decode() not in drift.diff


def test_a_secret_key_removed_by_hand_is_drift(kube_namespace: KubeNamespace) -> None:
    applied = secret()
    kube_namespace.apply(applied)
    live = kube_namespace.edit(applied, {"data": {"token": None}})

    drift = resource_drift(applied, live)
    assert drift.fields == ["data.token"]
    assert "tok-1234" not in drift.diff and base64.b64encode(b"tok-1234").decode() not in drift.diff


def test_a_label_changed_or_removed_by_hand_is_drift(kube_namespace: KubeNamespace) -> None:
    applied = config_map()
    kube_namespace.apply(applied)
    live = kube_namespace.edit(
        applied,
        {
            "metadata": {
                "labels": {"app.kubernetes.io/instance": "other", "opsmarket.io/namespace": None}
            }
        },
    )

    drift = resource_drift(applied, live)
    assert drift.fields == [
        'metadata.labels["app.kubernetes.io/instance"]',
        'metadata.labels["opsmarket.io/namespace"]',
    ]
    assert "-    opsmarket.io/namespace: pay-prod\n" in drift.diff


def test_what_others_add_beside_the_portals_fields_is_not_drift(
    kube_namespace: KubeNamespace,
) -> None:
    applied = deployment()
    kube_namespace.apply(applied)
    # The Deployment controller's revision annotation, a label and an env var of
    # someone else's: a re-apply would leave them, so they are not the portal's.
    live = kube_namespace.edit(
        applied,
        {
            "metadata": {
                "annotations": {"deployment.kubernetes.io/revision": "1"},
                "labels": {"team": "payments"},
            },
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "app", "env": [{"name": "DEBUG", "value": "1"}]}]
                    }
                }
            },
        },
        manager="someone-else",
        strategic=True,
    )

    assert len(live["spec"]["template"]["spec"]["containers"][0]["env"]) == 4
    assert resource_drift(applied, live).drifted is False


def test_a_cluster_role_rule_changed_by_hand_is_drift_and_a_reapply_repairs_it(
    kube_namespace: KubeNamespace,
) -> None:
    applied = cluster_role()
    kube_namespace.apply(applied)
    rules = copy.deepcopy(applied["rules"])
    rules[0]["verbs"].append("delete")
    live = kube_namespace.edit(applied, {"rules": rules})

    drift = resource_drift(applied, live)
    assert drift.fields == ["rules[0].verbs"]
    assert "   - list\n+  - delete\n" in drift.diff

    # The repair: the portal applies again and owns the field again.
    repaired = kube_namespace.apply(applied)
    assert resource_drift(applied, repaired).drifted is False


# --- normalisation, without a server ----------------------------------------------------


def configmap_pair(applied_data: dict[str, Any], live_data: dict[str, Any]) -> tuple[dict, dict]:
    applied = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    return {**applied, "data": applied_data}, {**applied, "data": live_data}


def container(resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "resources": resources}]},
    }


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ({"cpu": 0.5}, {"cpu": "500m"}),
        ({"cpu": "0.1"}, {"cpu": "100m"}),
        ({"cpu": 0.1}, {"cpu": "100m"}),
        ({"cpu": 2}, {"cpu": "2"}),
        ({"cpu": "1000m"}, {"cpu": "1"}),
        ({"memory": "1024Mi"}, {"memory": "1Gi"}),
        ({"memory": 1073741824}, {"memory": "1Gi"}),
        ({"memory": "1e3"}, {"memory": "1k"}),
    ],
)
def test_a_quantity_the_server_rewrote_is_not_drift(given: dict, stored: dict) -> None:
    applied = container({"requests": given, "limits": given})
    live = container({"requests": stored, "limits": stored})
    assert resource_drift(applied, live).drifted is False


def test_a_different_quantity_is_drift() -> None:
    drift = resource_drift(container({"limits": {"cpu": 0.5}}), container({"limits": {"cpu": "1"}}))
    assert drift.fields == ["spec.containers[name=app].resources.limits.cpu"]


def test_config_map_values_are_never_read_as_quantities() -> None:
    drift = resource_drift(*configmap_pair({"ratio": "0.5"}, {"ratio": "500m"}))
    assert drift.fields == ["data.ratio"]


def test_an_int_or_string_given_either_way_is_not_drift() -> None:
    applied = {"kind": "Service", "metadata": {}, "spec": {"ports": [{"targetPort": "8080"}]}}
    live = {"kind": "Service", "metadata": {}, "spec": {"ports": [{"targetPort": 8080}]}}
    assert resource_drift(applied, live).drifted is False
    assert resource_drift(live, applied).drifted is False


def test_a_boolean_is_not_the_number_one() -> None:
    applied = {"kind": "X", "metadata": {}, "spec": {"enabled": True}}
    live = {"kind": "X", "metadata": {}, "spec": {"enabled": 1}}
    assert resource_drift(applied, live).fields == ["spec.enabled"]


def test_zero_values_the_server_leaves_out_and_nulls_are_not_drift() -> None:
    applied = {
        "kind": "X",
        "metadata": {"name": "x", "labels": {}, "annotations": None},
        "spec": {
            "paused": False,
            "minReadySeconds": 0,
            "note": "",
            "tolerations": [],
            "securityContext": {"seLinuxOptions": {}},
            "owner": None,
        },
        "status": {"phase": "ignored"},
    }
    live = {"kind": "X", "metadata": {"name": "x", "uid": "u", "generation": 4}, "spec": {}}
    assert resource_drift(applied, live).drifted is False


def test_a_field_missing_from_the_live_object_is_drift() -> None:
    applied = {"kind": "X", "metadata": {}, "spec": {"replicas": 0, "image": "a"}}
    live = {"kind": "X", "metadata": {}, "spec": {"replicas": 0}}
    drift = resource_drift(applied, live)
    assert drift.fields == ["spec.image"]
    assert "-  image: a\n" in drift.diff


def test_named_elements_are_matched_by_name_whatever_their_order() -> None:
    applied = {"kind": "X", "metadata": {}, "spec": {"env": [{"name": "A"}, {"name": "B"}]}}
    live = {"kind": "X", "metadata": {}, "spec": {"env": [{"name": "B"}, {"name": "A"}]}}
    assert resource_drift(applied, live).drifted is False

    gone = {"kind": "X", "metadata": {}, "spec": {"env": [{"name": "B"}]}}
    assert resource_drift(applied, gone).fields == ["spec.env[name=A]"]


def test_an_atomic_list_is_compared_element_by_element_and_by_length() -> None:
    applied = {"kind": "X", "metadata": {}, "spec": {"args": ["a", "b"]}}
    reordered = {"kind": "X", "metadata": {}, "spec": {"args": ["b", "a"]}}
    longer = {"kind": "X", "metadata": {}, "spec": {"args": ["a", "b", "c"]}}
    assert resource_drift(applied, reordered).fields == ["spec.args[0]", "spec.args[1]"]
    drift = resource_drift(applied, longer)
    assert drift.fields == ["spec.args"]
    assert "+  - c\n" in drift.diff


def test_volume_mounts_are_matched_by_mount_path_and_duplicate_names_by_position() -> None:
    mounts = [{"name": "v", "mountPath": "/a"}, {"name": "v", "mountPath": "/b"}]
    applied = {"kind": "X", "metadata": {}, "spec": {"volumeMounts": mounts}}
    swapped = {"kind": "X", "metadata": {}, "spec": {"volumeMounts": mounts[::-1]}}
    assert resource_drift(applied, swapped).drifted is False

    items = [{"name": "x", "v": 1}, {"name": "x", "v": 2}]
    applied = {"kind": "X", "metadata": {}, "spec": {"items": items}}
    live = {"kind": "X", "metadata": {}, "spec": {"items": items[::-1]}}
    assert resource_drift(applied, live).fields == ["spec.items[0].v", "spec.items[1].v"]


def test_a_value_of_another_type_is_drift() -> None:
    applied = {"kind": "X", "metadata": {}, "spec": {"template": {"a": 1}, "list": [1]}}
    live = {"kind": "X", "metadata": {}, "spec": {"template": "text", "list": {"a": 1}}}
    assert resource_drift(applied, live).fields == ["spec.template", "spec.list"]


def test_string_data_wins_over_data_for_the_same_key_as_the_server_does() -> None:
    applied = {
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": base64.b64encode(b"old").decode()},
        "stringData": {"k": "new"},
    }
    live = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "bmV3"}}
    assert resource_drift(applied, live).drifted is False


def test_a_secret_diff_masks_every_value_even_when_another_field_drifted() -> None:
    applied = {
        "kind": "Secret",
        "metadata": {"name": "s", "labels": {"a": "1"}},
        "stringData": {"password": "hunter2"},
    }
    live = {
        "kind": "Secret",
        "metadata": {"name": "s", "labels": {"a": "2"}},
        "data": {"password": base64.b64encode(b"hunter2").decode()},
    }
    drift = resource_drift(applied, live)
    assert drift.fields == ["metadata.labels.a"]
    assert "hunter2" not in drift.diff and "aHVudGVyMg" not in drift.diff
    # Unchanged, so one context line masked alike on both sides.
    assert f"\n   password: '{MASK}'\n" in drift.diff and CHANGED_MASK not in drift.diff


def test_the_diff_is_bounded() -> None:
    many = {f"key{i}": f"value{i}" for i in range(500)}
    drift = resource_drift(*configmap_pair(many, {k: v + "!" for k, v in many.items()}))
    lines = drift.diff.splitlines()
    assert len(drift.fields) == 100
    assert len(lines) == MAX_DIFF_LINES + 1
    assert lines[-1].startswith("… ") and lines[-1].endswith(" more lines")


def test_an_object_nested_beyond_reason_is_flagged_not_crashed_on() -> None:
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(5000):
        cursor["a"] = {}
        cursor = cursor["a"]
    applied = {"kind": "X", "metadata": {}, "spec": deep}
    drift = resource_drift(applied, {"kind": "X", "metadata": {}, "spec": {}})
    assert drift.drifted is True and "not compared" in drift.diff


def test_sync_is_missing_without_a_live_object() -> None:
    assert resource_sync({"kind": "ConfigMap", "metadata": {"name": "c"}}, None) == MISSING


def test_config_map_binary_data_is_compared_decoded() -> None:
    wrapped = {"kind": "ConfigMap", "metadata": {}, "binaryData": {"b": "aGVs\nbG8="}}
    stored = {"kind": "ConfigMap", "metadata": {}, "binaryData": {"b": "aGVsbG8="}}
    other = {"kind": "ConfigMap", "metadata": {}, "binaryData": {"b": "aGVsbG8h"}}
    assert resource_drift(wrapped, stored).drifted is False
    assert resource_drift(wrapped, other).fields == ["binaryData.b"]


def test_secret_data_of_an_unexpected_shape_is_masked_too() -> None:
    applied = {"kind": "Secret", "metadata": {}, "data": {"k": "c2VjcmV0"}}
    for live_data in ("c2VjcmV0", {"k": {"nested": "c2VjcmV0"}}, ["c2VjcmV0"]):
        drift = resource_drift(applied, {"kind": "Secret", "metadata": {}, "data": live_data})
        assert drift.drifted is True
        assert "c2VjcmV0" not in drift.diff and MASK in drift.diff
    drift = resource_drift({**applied, "data": "c2VjcmV0"}, {**applied, "data": {"k": "x"}})
    assert drift.fields == ["data"] and "c2VjcmV0" not in drift.diff


def test_an_autoscaler_target_value_is_a_quantity() -> None:
    def hpa(value: Any) -> dict[str, Any]:
        target = {"type": "AverageValue", "averageValue": value}
        metric = {"type": "Resource", "resource": {"name": "cpu", "target": target}}
        return {"kind": "HorizontalPodAutoscaler", "metadata": {}, "spec": {"metrics": [metric]}}

    assert resource_drift(hpa(0.5), hpa("500m")).drifted is False
    assert resource_drift(hpa("500m"), hpa("600m")).drifted is True
