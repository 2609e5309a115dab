"""Fixtures for the metrics tests: a cluster row, a team's kubernetes namespace and
a deployed instance in it, a scrape target row, the real Kubernetes API server when
there is one (and a client of it), and the shared Kafka broker's stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from kubernetes import client

from deployments.kube import ClusterAccess, api_client
from deployments.models import Cluster, DeployTarget, Instance, Namespace
from market.models import Market
from portal.crypto import encrypt_json
from portal.models import Role
from telemetry.models import ScrapeTarget
from telemetry.stream import stream_close
from tests.deployments.kube_support import (
    KubeServer,
    kube,  # noqa: F401  (the Kubernetes API server)
)
from tests.factories import make_team, make_user
from tests.telemetry.kafka_support import kafka_servers


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


def scrape_target(
    instance: Instance, pod: str = "web-0", address: str = "10.1.2.3:9100", **fields: Any
) -> ScrapeTarget:
    """A target row as discovery makes it (found by its pod's label); ``fields`` set
    what the scrape rounds would have found (health, last_error, names...)."""
    fields.setdefault("found_by", "pod")
    return ScrapeTarget.objects.create(
        instance=instance, pod=pod, address=address, url=f"http://{address}/metrics", **fields
    )


@pytest.fixture
def core(kube: KubeServer) -> Iterator[client.CoreV1Api]:  # noqa: F811  (the fixture above)
    access = ClusterAccess(
        server=kube.url, token=kube.token, ca_cert=kube.ca_cert, allow_private_network=True
    )
    with api_client(access) as api:
        yield client.CoreV1Api(api)


@pytest.fixture
def stream(settings: Any) -> Iterator[Any]:
    """The shared broker, a topic of this test's own, counters reported by hand."""
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_servers()
    settings.KAFKA_METRICS_TOPIC = f"test-metrics-{uuid4().hex[:12]}"
    settings.KAFKA_REPORT_INTERVAL_SECONDS = 0
    yield settings
    stream_close(flush_seconds=0)
