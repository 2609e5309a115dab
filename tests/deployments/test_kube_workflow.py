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
