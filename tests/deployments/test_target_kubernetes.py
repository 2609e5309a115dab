"""The Kubernetes target against the real API server of scripts/services.sh: server-side
apply with the portal's labels, prune, uninstall that leaves nothing with the
instance's labels, refusals that leave nothing half-applied, redelivery and a killed
apply. No database: the target is called as the workflow engine calls it.

No controllers run on that server: a deleted namespace stays Terminating, so each
test takes a fresh namespace and leaves it.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import pytest

from deployments.kube import ClusterAccess, api_client
from deployments.targets import Change, TargetError
from deployments.targets.kubernetes import KubernetesTarget
from deployments.targets.kubernetes.objects import instance_selector
from deployments.targets.kubernetes.record import record_read
from deployments.targets.kubernetes.session import kube_session
from tests.deployments.kube_support import KubeServer

pytestmark = pytest.mark.services

APP = {
    "config.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {greeting: hello}
""",
    "secret.yaml": """\
apiVersion: v1
kind: Secret
metadata: {name: web-secret}
stringData: {password: s3cret-value}
""",
    "rbac.yaml": """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: NAME-reader}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
""",
    "deploy.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1.27", ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
""",
}

SWEEP = [
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
]


def app(namespace: str, **changes: str | None) -> dict[str, str]:
    manifests = {path: text.replace("NAME", namespace) for path, text in APP.items()}
    for path, text in changes.items():
        if text is None:
            manifests.pop(path.replace("_", "."), None)
        else:
            manifests[path.replace("_", ".")] = text
    return manifests


def change(namespace: str, kind: str = "install", instance: str = "web") -> Change:
    return Change(
        operation_id=str(uuid.uuid4()),
        kind=kind,
        namespace=namespace,
        instance=instance,
        app="web",
        version="1.0.0",
        requested_by="alice",
    )


@pytest.fixture
def access(kube: KubeServer) -> ClusterAccess:
    return ClusterAccess(
        server=kube.url, token=kube.token, ca_cert=kube.ca_cert, allow_private_network=True
    )


@pytest.fixture
def target(access: ClusterAccess) -> KubernetesTarget:
    return KubernetesTarget(access, cluster_name="test")


@pytest.fixture
def namespace() -> str:
    return f"kt-{secrets.token_hex(4)}"


def call(access: ClusterAccess, method: str, path: str, body: Any = None, **query: str) -> Any:
    with kube_session(access) as session:
        return session.request(
            method,
            path,
            query=list(query.items()),
            body=body,
            absent_ok=True,
            content_type="application/merge-patch+json"
            if method == "PATCH"
            else "application/json",
        )


def labelled(access: ClusterAccess, namespace: str, instance: str = "web") -> list[str]:
    """Everything carrying the instance's labels, namespaced and cluster-wide."""
    selector = instance_selector(namespace=namespace, instance=instance)
    with kube_session(access) as session:
        return sorted(
            str(ref)
            for api_version, kind in SWEEP
            for ref in session.list_labelled(api_version, kind, namespace, selector)
        )


def test_install_applies_every_object_with_the_labels_by_server_side_apply(
    target, access, namespace
):
    applied = target.apply(change(namespace), app(namespace))

    assert applied.created
    assert "applied 5 objects" in applied.summary
    # The namespace was created, and every object is there with the labels of SPEC 9.
    assert call(access, "GET", f"/api/v1/namespaces/{namespace}")["metadata"]["name"] == namespace
    assert labelled(access, namespace) == sorted(
        [
            f"ClusterRole {namespace}-reader",
            f"ConfigMap web-config in {namespace}",
            f"Deployment web in {namespace}",
            # The instance record: what was applied, for prune, verify and undo.
            f"Secret opsmarket-instance-web in {namespace}",
            f"Secret web-secret in {namespace}",
            f"Service web in {namespace}",
        ]
    )
    deployment = call(access, "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
    labels = deployment["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "ops-market"
    assert labels["app.kubernetes.io/instance"] == "web"
    assert labels["opsmarket.io/namespace"] == namespace
    managers = {
        entry["manager"]: entry["operation"] for entry in deployment["metadata"]["managedFields"]
    }
    assert managers == {"ops-market": "Apply"}
    # The pods get the instance's labels too; the selector is untouched.
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["app.kubernetes.io/instance"] == "web"
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    # The record knows the manifests; verify asks it.
    assert target.read(namespace, "web") == app(namespace)
    assert target.holds(namespace, "web", app(namespace))


def test_a_redelivered_apply_changes_nothing(target, access, namespace):
    first = change(namespace)
    target.apply(first, app(namespace))
    before = call(access, "GET", f"/api/v1/namespaces/{namespace}/configmaps/web-config")

    again = target.apply(first, app(namespace))

    assert not again.created
    after = call(access, "GET", f"/api/v1/namespaces/{namespace}/configmaps/web-config")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert target.find(first.operation_id, namespace, "web") is not None
    assert target.find(str(uuid.uuid4()), namespace, "web") is None


def test_upgrade_prunes_what_the_new_revision_dropped_and_rollback_brings_it_back(
    target, access, namespace
):
    target.apply(change(namespace), app(namespace))

    upgraded = target.apply(change(namespace, "upgrade"), app(namespace, config_yaml=None))

    assert "pruned 1 (ConfigMap web-config" in upgraded.summary
    assert f"ConfigMap web-config in {namespace}" not in labelled(access, namespace)
    assert len(labelled(access, namespace)) == 5  # four objects and the record

    target.apply(change(namespace, "rollback"), app(namespace))

    config = call(access, "GET", f"/api/v1/namespaces/{namespace}/configmaps/web-config")
    assert config["data"] == {"greeting": "hello"}


def test_uninstall_leaves_nothing_with_the_instance_labels(target, access, namespace):
    target.apply(change(namespace), app(namespace))
    # Made by hand with the instance's labels: uninstall takes it too.
    call(
        access,
        "POST",
        f"/api/v1/namespaces/{namespace}/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "by-hand",
                "labels": {
                    "app.kubernetes.io/managed-by": "ops-market",
                    "app.kubernetes.io/instance": "web",
                    "opsmarket.io/namespace": namespace,
                },
            },
            "spec": {"ports": [{"port": 81}]},
        },
    )
    # Another instance in the same namespace is not touched.
    target.apply(
        change(namespace, instance="other"),
        {"c.yaml": APP["config.yaml"].replace("web-config", "other-config")},
    )

    removed = target.remove(change(namespace, "uninstall"))

    assert removed.created
    assert labelled(access, namespace) == []
    assert (
        call(access, "GET", f"/api/v1/namespaces/{namespace}/secrets/opsmarket-instance-web")
        is None
    )
    assert target.read(namespace, "web") == {}
    assert labelled(access, namespace, "other") == [
        f"ConfigMap other-config in {namespace}",
        f"Secret opsmarket-instance-other in {namespace}",
    ]
    # The Kubernetes namespace itself stays.
    assert call(access, "GET", f"/api/v1/namespaces/{namespace}") is not None
    # Twice is fine.
    target.remove(change(namespace, "uninstall"))
    assert labelled(access, namespace) == []


def test_an_invalid_object_refuses_the_install_and_removes_what_it_created(
    target, access, namespace
):
    broken = app(
        namespace,
        zz_yaml=(
            "apiVersion: v1\nkind: Service\nmetadata: {name: broken}\n"
            "spec:\n  ports: [{port: 99999}]\n"
        ),
    )

    with pytest.raises(TargetError) as refused:
        target.apply(change(namespace), broken)

    message = str(refused.value)
    assert "Service broken" in message
    assert "99999" in message  # the server's own words
    assert "the objects it had created were deleted" in message
    assert labelled(access, namespace) == []
    assert target.read(namespace, "web") == {}


def test_an_invalid_upgrade_puts_the_previous_revision_back(target, access, namespace):
    target.apply(change(namespace), app(namespace))
    changed = app(
        namespace,
        config_yaml=APP["config.yaml"].replace("hello", "changed"),
        extra_yaml="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: b}\n",
        zz_yaml=(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken}\n"
            "spec: {replicas: -1}\n"
        ),
    )

    with pytest.raises(TargetError) as refused:
        target.apply(change(namespace, "upgrade"), changed)

    assert "Deployment broken" in str(refused.value)
    assert "the previous revision's objects were put back" in str(refused.value)
    config = call(access, "GET", f"/api/v1/namespaces/{namespace}/configmaps/web-config")
    assert config["data"] == {"greeting": "hello"}
    assert call(access, "GET", f"/api/v1/namespaces/{namespace}/configmaps/extra") is None
    assert target.holds(namespace, "web", app(namespace))


def test_an_object_the_token_may_not_create_is_refused_with_the_rbac_message(
    kube, access, namespace
):
    # The limited user may do anything inside the namespace (a Role of its own: the
    # built-in "admin" role is aggregated by a controller that does not run here),
    # but not create a ClusterRole.
    call(
        access,
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    call(
        access,
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "everything"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        },
    )
    call(
        access,
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "limited-admin"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "everything",
            },
            "subjects": [
                {
                    "kind": "User",
                    "name": _limited_user(kube, access),
                    "apiGroup": "rbac.authorization.k8s.io",
                }
            ],
        },
    )
    limited = KubernetesTarget(
        ClusterAccess(
            server=kube.url,
            token=kube.limited_token,
            ca_cert=kube.ca_cert,
            allow_private_network=True,
        ),
        cluster_name="test",
    )

    with pytest.raises(TargetError) as refused:
        limited.apply(change(namespace), app(namespace))

    message = str(refused.value)
    assert f"ClusterRole {namespace}-reader" in message
    assert "forbidden" in message
    assert kube.limited_token not in message
    assert labelled(access, namespace) == []


def test_a_document_naming_another_namespace_is_refused_before_anything_is_applied(
    target, access, namespace
):
    hostile = app(
        namespace,
        zz_yaml="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: kube-system}\n",
    )

    with pytest.raises(TargetError, match=r"metadata\.namespace 'kube-system'"):
        target.apply(change(namespace), hostile)

    assert labelled(access, namespace) == []


def test_an_apply_killed_half_way_is_put_back_by_repair(target, access, namespace):
    target.apply(change(namespace), app(namespace))
    # What a worker killed after applying two objects of an upgrade leaves: the
    # record's pending objects, some of them in the cluster.
    upgrade = change(namespace, "upgrade")
    half = app(
        namespace, new_yaml="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: new}\ndata: {a: b}\n"
    )
    with kube_session(access) as session:
        record = record_read(session, namespace, "web")
        assert record is not None
        from deployments.targets.kubernetes.objects import kube_objects
        from deployments.targets.kubernetes.record import ObjectSet, record_write

        objects = kube_objects(
            half, namespace=namespace, instance="web", namespaced=session.namespaced
        )
        record.pending = ObjectSet(upgrade.operation_id, half, [item.ref for item in objects])
        record_write(session, record)
        new = next(item for item in objects if item.ref.name == "new")
        session.apply(new.ref, new.body)
    assert target.find(upgrade.operation_id, namespace, "web") is None

    target.repair(namespace, "web")

    assert call(access, "GET", f"/api/v1/namespaces/{namespace}/configmaps/new") is None
    assert target.holds(namespace, "web", app(namespace))


def test_a_killed_apply_resumes_to_the_same_end_state_on_redelivery(target, access, namespace):
    first = change(namespace)
    with kube_session(access) as session:
        from deployments.targets.kubernetes.objects import kube_objects
        from deployments.targets.kubernetes.record import InstanceRecord, ObjectSet, record_write

        session.namespace_ensure(namespace)
        objects = kube_objects(
            app(namespace), namespace=namespace, instance="web", namespaced=session.namespaced
        )
        record = InstanceRecord(
            namespace,
            "web",
            pending=ObjectSet(first.operation_id, app(namespace), [o.ref for o in objects]),
        )
        record_write(session, record)
        session.apply(objects[0].ref, objects[0].body)

    applied = target.apply(first, app(namespace))

    assert applied.created
    assert len(labelled(access, namespace)) == 6  # five objects and the record
    assert target.holds(namespace, "web", app(namespace))


def _limited_user(kube: KubeServer, access: ClusterAccess) -> str:
    limited = ClusterAccess(
        server=kube.url, token=kube.limited_token, ca_cert=kube.ca_cert, allow_private_network=True
    )
    with api_client(limited) as api:
        response = api.call_api(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            "POST",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            header_params={"Content-Type": "application/json"},
            _return_http_data_only=True,
            _preload_content=False,
        )
    return str(json.loads(response.data)["status"]["userInfo"]["username"])
