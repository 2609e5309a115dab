"""Install, upgrade (prune), rollback and uninstall into a namespace bound to a real
Kubernetes cluster, through the request services and the workflow engine, as a user
would run them (issue 12's "must show")."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

import pytest

from deployments.models import Cluster, Instance, Namespace, Operation
from deployments.services.clusters import cluster_access, cluster_add
from deployments.services.instances import (
    instance_install,
    instance_rollback,
    instance_uninstall,
    instance_upgrade,
)
from deployments.targets.kubernetes.objects import instance_selector
from deployments.targets.kubernetes.session import kube_session
from market.models import Market
from portal.actors import Actor
from portal.models import Role
from tests.deployments.kube_apps import kube_market
from tests.deployments.kube_support import KubeServer
from tests.factories import make_team, make_user

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks"),
    pytest.mark.services,
]

KINDS = [
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
]


@pytest.fixture
def cluster(kube: KubeServer) -> Cluster:
    return cluster_add(
        actor=Actor.system(),
        name="test",
        server=kube.url,
        token=kube.token,
        ca_cert=kube.ca_cert,
        allow_private_network=True,
    )


@pytest.fixture
def operator(db: None) -> Any:
    return make_user("kate")


@pytest.fixture
def kube_namespace(cluster: Cluster, operator: Any) -> Namespace:
    team = make_team("shop", members={operator: Role.OPERATOR})
    return Namespace.objects.create(
        name=f"kw-{secrets.token_hex(4)}", team=team, target="kubernetes", cluster=cluster
    )


@pytest.fixture
def market(db: None, tmp_path: Path, settings: Any) -> Market:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    return kube_market(tmp_path)


def in_cluster(cluster: Cluster, namespace: str, instance: str = "shop") -> list[str]:
    selector = instance_selector(namespace=namespace, instance=instance)
    with kube_session(cluster_access(cluster)) as session:
        return sorted(
            str(ref)
            for api_version, kind in KINDS
            for ref in session.list_labelled(api_version, kind, namespace, selector)
            if not ref.name.startswith("opsmarket-instance-")
        )


def last_apply_step(instance: Instance) -> str:
    operation = Operation.objects.filter(instance=instance).order_by("-created_at").first()
    assert operation is not None
    return operation.steps.get(name="apply").message


def test_install_upgrade_rollback_uninstall_in_a_cluster(
    cluster: Cluster, kube_namespace: Namespace, market: Market, operator: Any
) -> None:
    actor = Actor(user=operator)
    ns = kube_namespace.name
    instance_install(
        actor=actor,
        namespace=kube_namespace,
        market=market,
        name="shop",
        app="shop-app",
        version="1.0.0",
        values={"password": "hunter2-secret"},
    )
    shop = Instance.objects.get(namespace=kube_namespace, name="shop")
    assert shop.status == "deployed", shop.status_message
    everything = [
        f"ClusterRole {ns}-shop-reader",
        f"ConfigMap shop-config in {ns}",
        f"Deployment shop in {ns}",
        f"Secret shop-auth in {ns}",
        f"Service shop in {ns}",
    ]
    assert in_cluster(cluster, ns) == everything
    assert "applied 5 objects to cluster test" in last_apply_step(shop)
    with kube_session(cluster_access(cluster)) as session:
        secret = session.request("GET", f"/api/v1/namespaces/{ns}/secrets/shop-auth")
    assert secret is not None
    assert base64.b64decode(secret["data"]["password"]) == b"hunter2-secret"

    instance_upgrade(actor=actor, instance=shop, version="1.1.0", values=None)
    shop.refresh_from_db()
    assert (shop.status, shop.version) == ("deployed", "1.1.0"), shop.status_message
    assert in_cluster(cluster, ns) == [item for item in everything if "ConfigMap" not in item]
    assert "pruned 1 (ConfigMap shop-config" in last_apply_step(shop)

    instance_rollback(actor=actor, instance=shop, revision=1)
    shop.refresh_from_db()
    assert (shop.status, shop.version) == ("deployed", "1.0.0"), shop.status_message
    assert in_cluster(cluster, ns) == everything

    instance_uninstall(actor=actor, instance=shop)
    shop.refresh_from_db()
    assert shop.status == "uninstalled", shop.status_message
    with kube_session(cluster_access(cluster)) as session:
        left = [
            ref
            for api_version, kind in [*KINDS, ("v1", "Secret")]
            for ref in session.list_labelled(
                api_version, kind, ns, instance_selector(namespace=ns, instance="shop")
            )
        ]
    assert left == []  # nothing with the instance's labels, namespaced or cluster-wide


def test_a_refused_upgrade_puts_the_previous_objects_back_and_says_why(
    cluster: Cluster, kube_namespace: Namespace, market: Market, operator: Any
) -> None:
    actor = Actor(user=operator)
    ns = kube_namespace.name
    instance_install(
        actor=actor,
        namespace=kube_namespace,
        market=market,
        name="shop",
        app="shop-app",
        version="1.1.0",
        values={},
    )
    shop = Instance.objects.get(namespace=kube_namespace, name="shop")
    before = in_cluster(cluster, ns)

    instance_upgrade(actor=actor, instance=shop, version="1.2.0", values=None)

    shop.refresh_from_db()
    operation = Operation.objects.filter(instance=shop, kind="upgrade").get()
    # The target put the cluster back itself: the engine sees an apply that left
    # nothing, so the operation failed and revision 1 still stands.
    assert operation.state == "failed", operation.error
    assert "Service shop-broken" in operation.error
    assert "99999" in operation.error  # the server's message
    assert (shop.status, shop.version) == ("deployed", "1.1.0")
    assert "99999" in shop.status_message
    assert in_cluster(cluster, ns) == before


def patch(cluster: Cluster, path: str, body: dict[str, Any], *, status: bool = False) -> None:
    """A change made by someone else (another field manager), as by kubectl edit."""
    with kube_session(cluster_access(cluster)) as session:
        session.request(
            "PATCH",
            path + ("/status" if status else ""),
            query=[("fieldManager", "kubectl-edit")],
            body=body,
            content_type="application/merge-patch+json",
        )


def resources(api_client: Any, ns: str, refresh: bool = True) -> dict[str, dict[str, str]]:
    response = api_client.get(
        f"/api/v1/namespaces/{ns}/instances/shop/resources/" + ("?refresh=1" if refresh else "")
    )
    assert response.status_code == 200, response.content
    return {f"{row['kind']}/{row['name']}": row for row in response.json()}


def test_live_state_reports_drift_and_missing_objects_and_repair_puts_them_back(
    cluster: Cluster, kube_namespace: Namespace, market: Market, operator: Any, api_client: Any
) -> None:
    ns = kube_namespace.name
    instance_install(
        actor=Actor(user=operator),
        namespace=kube_namespace,
        market=market,
        name="shop",
        app="shop-app",
        version="1.0.0",
        values={"password": "hunter2-secret"},
    )
    api_client.force_authenticate(operator)

    seen = resources(api_client, ns)

    assert sorted(seen) == [
        f"ClusterRole/{ns}-shop-reader",
        "ConfigMap/shop-config",
        "Deployment/shop",
        "Secret/shop-auth",
        "Service/shop",
    ]
    assert {row["sync"] for row in seen.values()} == {"synced"}
    assert seen["Service/shop"]["health"] == "healthy"
    assert seen["Deployment/shop"]["health"] == "progressing"  # no pods yet
    assert seen["Deployment/shop"]["api_version"] == "apps/v1"
    assert seen["Deployment/shop"]["namespace"] == ns
    assert seen[f"ClusterRole/{ns}-shop-reader"]["namespace"] == ""

    # A controller reports the rollout done: healthy.
    patch(
        cluster,
        f"/apis/apps/v1/namespaces/{ns}/deployments/shop",
        {
            "status": {
                "observedGeneration": 1,
                "replicas": 2,
                "updatedReplicas": 2,
                "readyReplicas": 2,
                "availableReplicas": 2,
            }
        },
        status=True,
    )
    # Someone edits a managed field by hand, and deletes the Service.
    patch(cluster, f"/api/v1/namespaces/{ns}/configmaps/shop-config", {"data": {"replicas": "9"}})
    patch(cluster, f"/api/v1/namespaces/{ns}/secrets/shop-auth", {"stringData": {"password": "x"}})
    with kube_session(cluster_access(cluster)) as session:
        session.request("DELETE", f"/api/v1/namespaces/{ns}/services/shop")

    seen = resources(api_client, ns)

    assert seen["Deployment/shop"]["health"] == "healthy"
    assert (seen["ConfigMap/shop-config"]["sync"], seen["Service/shop"]["sync"]) == (
        "drifted",
        "missing",
    )
    assert seen["Secret/shop-auth"]["sync"] == "drifted"
    assert "data.replicas" in seen["ConfigMap/shop-config"]["message"]
    shop = Instance.objects.get(namespace=kube_namespace, name="shop")
    assert (shop.live_sync, shop.live_health) == ("missing", "unknown")
    diffs = {row.name: row.diff for row in shop.resources.all()}
    assert '-  replicas: "2"' in diffs["shop-config"] or "replicas: '2'" in diffs["shop-config"]
    assert "9" in diffs["shop-config"]
    # The secret's diff says it changed without showing either value.
    assert diffs["shop-auth"]
    assert "hunter2" not in diffs["shop-auth"]
    assert base64.b64encode(b"hunter2-secret").decode() not in diffs["shop-auth"]
    assert "eA==" not in diffs["shop-auth"]

    response = api_client.post(f"/api/v1/namespaces/{ns}/instances/shop/repair/")

    assert response.status_code == 202, response.content
    operation = Operation.objects.get(pk=response.json()["operation"]["id"])
    assert (operation.kind, operation.state) == ("repair", "succeeded"), operation.error
    shop.refresh_from_db()
    assert shop.current_revision is not None and shop.current_revision.number == 1
    assert shop.revisions.count() == 1  # a repair makes no new revision
    seen = resources(api_client, ns)
    assert {row["sync"] for row in seen.values()} == {"synced"}


def test_resources_of_another_teams_instance_answer_404(
    cluster: Cluster, kube_namespace: Namespace, market: Market, operator: Any, api_client: Any
) -> None:
    instance_install(
        actor=Actor(user=operator),
        namespace=kube_namespace,
        market=market,
        name="shop",
        app="shop-app",
        version="1.1.0",
        values={},
    )
    api_client.force_authenticate(make_user("mallory"))
    ns = kube_namespace.name

    assert api_client.get(f"/api/v1/namespaces/{ns}/instances/shop/resources/").status_code == 404
    assert api_client.post(f"/api/v1/namespaces/{ns}/instances/shop/repair/").status_code == 404
    assert not Operation.objects.filter(kind="repair").exists()
