"""Fixtures for the metrics tests: a cluster row, a team's kubernetes namespace and
a deployed instance in it, and the real Kubernetes API server when there is one."""

from __future__ import annotations

from typing import Any

import pytest

from deployments.models import Cluster, DeployTarget, Instance, Namespace
from market.models import Market
from portal.crypto import encrypt_json
from portal.models import Role
from tests.deployments.kube_support import kube  # noqa: F401  (the Kubernetes API server)
from tests.factories import make_team, make_user


@pytest.fixture
def viewer(db: None) -> Any:
    return make_user("vera")


@pytest.fixture
def team(viewer: Any) -> Any:
    return make_team("payments", members={viewer: Role.VIEWER})


def cluster_row(name: str = "lab", *, allow_private_network: bool = True) -> Cluster:
    """A stored cluster without the add-time probe: for tests that never call it."""
    return Cluster.objects.create(
        name=name,
        server="https://127.0.0.1:1",
        ca_cert="",
        insecure_skip_tls_verify=True,
        token_encrypted=encrypt_json("unused"),
        allow_private_network=allow_private_network,
    )


def deployed(namespace: Namespace, name: str = "web", *, version: str = "1.2.0") -> Instance:
    market, _ = Market.objects.get_or_create(name="apps")
    return Instance.objects.create(
        namespace=namespace,
        name=name,
        market=market,
        app_name="webapp",
        version=version,
        status="deployed",
    )


def kube_namespace(team: Any, cluster: Cluster, name: str) -> Namespace:
    return Namespace.objects.create(
        team=team, name=name, target=DeployTarget.KUBERNETES, cluster=cluster
    )
