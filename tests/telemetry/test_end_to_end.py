"""Instance metrics from end to end (issue 13's "must show"): an app whose template
has a labelled exporter pod and an unlabelled one is published to a market and
installed through the REST API into a namespace of the real Kubernetes API server;
its exporter's samples reach the metrics API and the Kafka topic with the
instance's labels; the unlabelled pod is never asked for anything; an upgrade that
drops the labelled pod drops its target, and so does an uninstall.

No kubelet runs: the test plays one (``status.phase=Running``, ``podIP=127.0.0.1``
through the ``/status`` subresource) and serves the exporters itself on loopback,
the pods' port annotations pointing at them; the cluster allows private network.
Discovery after an operation is the workflow engine's own (queued after commit,
run eagerly here); the beat's discovery runs only where a pod started meanwhile."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector
from rest_framework.test import APIClient

from deployments.models import Cluster, Instance, Namespace
from deployments.services.clusters import cluster_add
from market.models import Market
from market.services.sync import market_sync
from portal.actors import Actor
from portal.models import Role
from telemetry.models import ScrapeTarget
from telemetry.stream import stream_flush
from telemetry.tasks import metrics_discover_task, metrics_scrape_task
from tests.deployments.apps import _manifest, publish
from tests.deployments.kube_support import KubeServer
from tests.factories import make_team, make_user
from tests.market.helpers import local_market
from tests.telemetry.kafka_support import read_topic
from tests.telemetry.support import exporter, requests_registry

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks"),
    pytest.mark.services,
    pytest.mark.slow,
]

SCHEMA = {
    "type": "object",
    "properties": {
        "metricsPort": {"type": "integer", "minimum": 1, "maximum": 65535},
        "quietPort": {"type": "integer", "minimum": 1, "maximum": 65535},
    },
}

LABELLED_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ instance.name }}-exporter
  labels: {sreworks-prometheus-scrape-metric: enable}
  annotations: {prometheus.io/port: "{{ values.metricsPort }}"}
spec:
  containers:
    - name: exporter
      image: registry.example.org/exporter:1
      ports: [{name: metrics, containerPort: {{ values.metricsPort }}}]
"""

UNLABELLED_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ instance.name }}-quiet
  annotations: {prometheus.io/port: "{{ values.quietPort }}"}
spec:
  containers:
    - name: quiet
      image: registry.example.org/quiet:1
      ports: [{name: metrics, containerPort: {{ values.quietPort }}}]
"""


def exporter_app(version: str) -> dict[str, str]:
    """metrics-app 1.0.0: both pods; 1.1.0: the unlabelled pod only."""
    files = {
        "manifest.yaml": _manifest("metrics-app", version),
        "values.yaml": "metricsPort: 9100\nquietPort: 9101\n",
        "values.schema.json": json.dumps(SCHEMA),
        "templates/quiet.yaml": UNLABELLED_POD,
    }
    if version == "1.0.0":
        files["templates/exporter.yaml"] = LABELLED_POD
    return files


class RequestCount(Collector):
    """Counts the requests an exporter answered (each one collects its registry)."""

    def __init__(self) -> None:
        self.requests = 0

    def collect(self) -> Iterator[Any]:
        self.requests += 1
        return iter(())


@pytest.fixture
def operator(db: None) -> Any:
    return make_user("mona")


@pytest.fixture
def namespace(kube: KubeServer, core: client.CoreV1Api, operator: Any) -> Namespace:
    cluster: Cluster = cluster_add(
        actor=Actor.system(),
        name="lab",
        server=kube.url,
        token=kube.token,
        ca_cert=kube.ca_cert,
        allow_private_network=True,
    )
    # A fresh Kubernetes namespace (a deleted one stays Terminating without
    # controllers) with the ServiceAccount pods need, made by no controller here.
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_service_account(name, {"metadata": {"name": "default"}})
    team = make_team("observers", members={operator: Role.OPERATOR})
    return Namespace.objects.create(name=name, team=team, target="kubernetes", cluster=cluster)


@pytest.fixture
def market(db: None, tmp_path: Path, settings: Any) -> Market:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    market = local_market(tmp_path, "metrics")
    for version in ("1.0.0", "1.1.0"):
        publish(market, tmp_path, "metrics-app", version, exporter_app(version))
    market_sync(market=market)
    return market


def play_kubelet(core: client.CoreV1Api, namespace: str, pod: str) -> None:
    core.patch_namespaced_pod_status(
        pod,
        namespace,
        {"status": {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}},
    )


def test_an_installed_apps_exporter_reaches_the_api_and_kafka_and_its_targets_follow_it(
    core, namespace, market, operator, stream
):
    stream.ELASTICSEARCH_URL = ""  # the storage backends have tests of their own
    ns = namespace.name
    api = APIClient()
    api.force_authenticate(operator)
    quiet_count = RequestCount()
    quiet_registry = requests_registry(served=99, extra_gauge="secret_depth")
    quiet_registry.register(quiet_count)
    labelled_registry: CollectorRegistry = requests_registry(served=12)
    with exporter(labelled_registry) as port, exporter(quiet_registry) as quiet_port:
        values = {"metricsPort": port, "quietPort": quiet_port}
        answer = api.post(
            f"/api/v1/namespaces/{ns}/instances/",
            {"name": "obs", "market": "metrics", "app": "metrics-app", "version": "1.0.0",
             "values": values},
            format="json",
        )  # fmt: skip
        assert answer.status_code == 202, answer.json()
        instance = Instance.objects.get(namespace=namespace, name="obs")
        assert instance.status == "deployed", instance.status_message
        # Applied, not yet running: the engine's discovery found nothing to scrape.
        assert not ScrapeTarget.objects.filter(instance=instance).exists()

        play_kubelet(core, ns, "obs-exporter")
        play_kubelet(core, ns, "obs-quiet")
        metrics_discover_task()  # the beat's round: the pods started since
        metrics_scrape_task()
        assert stream_flush(timeout=60) == 0

        metrics = api.get(f"/api/v1/namespaces/{ns}/instances/obs/metrics/").json()
        targets = [
            (t["address"], t["pod"], t["health"], t["last_error"]) for t in metrics["targets"]
        ]
        assert targets == [(f"127.0.0.1:{port}", "obs-exporter", "up", "")]
        assert {"requests", "queue_depth"} <= set(metrics["names"])
        series = api.get(
            f"/api/v1/namespaces/{ns}/instances/obs/metrics/?name=requests_total&since=600"
        ).json()["series"]
        own = {
            "opsmarket_namespace": ns,
            "opsmarket_instance": "obs",
            "opsmarket_app": "metrics-app",
            "opsmarket_version": "1.0.0",
            "pod": "obs-exporter",
        }
        by_code = {s["labels"]["code"]: s for s in series}
        assert set(by_code) == {"200", "500"}
        assert by_code["200"]["labels"] == {"__name__": "requests_total", "code": "200", **own}
        assert by_code["200"]["points"][-1][1] == 12.0

        messages = read_topic(stream.KAFKA_BOOTSTRAP_SERVERS, stream.KAFKA_METRICS_TOPIC, expect=3)
        assert {key for key, _ in messages} == {f"{ns}/obs"}
        by_name = {(m["name"], m["labels"].get("code")): m for _, m in messages}
        request_200 = by_name[("requests_total", "200")]
        assert set(request_200) == {
            "@timestamp", "name", "value", "type", "labels", "instance", "target"
        }  # fmt: skip
        assert request_200["value"] == 12.0
        assert request_200["type"] == "counter"
        assert request_200["labels"] == {"code": "200", **own}
        assert request_200["instance"] == {
            "namespace": ns, "name": "obs", "app": "metrics-app", "version": "1.0.0"
        }  # fmt: skip
        assert request_200["target"] == f"http://127.0.0.1:{port}/metrics"
        assert request_200["@timestamp"].endswith("Z")
        assert by_name[("queue_depth", None)]["value"] == 7.0
        assert not [m for _, m in messages if m["labels"]["pod"] != "obs-exporter"]

        # The upgrade drops the labelled pod: its target goes with the operation,
        # not at the next beat round.
        answer = api.post(
            f"/api/v1/namespaces/{ns}/instances/obs/upgrade/",
            {"version": "1.1.0"},
            format="json",
        )
        assert answer.status_code == 202, answer.json()
        instance.refresh_from_db()
        assert (instance.status, instance.version) == ("deployed", "1.1.0")
        assert not ScrapeTarget.objects.filter(instance=instance).exists()
        assert api.get(f"/api/v1/namespaces/{ns}/instances/obs/metrics/").json()["targets"] == []

        # Rolled back, the pod is back (running once the kubelet says so), and an
        # uninstall takes its target away again.
        answer = api.post(
            f"/api/v1/namespaces/{ns}/instances/obs/rollback/", {"revision": 1}, format="json"
        )
        assert answer.status_code == 202, answer.json()
        play_kubelet(core, ns, "obs-exporter")
        metrics_discover_task()
        assert ScrapeTarget.objects.filter(instance=instance, pod="obs-exporter").exists()
        answer = api.delete(f"/api/v1/namespaces/{ns}/instances/obs/")
        assert answer.status_code == 202, answer.json()
        instance.refresh_from_db()
        assert instance.status == "uninstalled"
        assert not ScrapeTarget.objects.filter(instance=instance).exists()

        metrics_scrape_task()

    # Never asked for anything: no label, no scrape.
    assert quiet_count.requests == 0
