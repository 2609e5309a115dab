"""Discovery against the real Kubernetes API server of scripts/services.sh, then a
scrape of what it found: labelled pods and pods behind labelled Services are
scraped, with the instance's labels; unlabelled, pending and other instances' pods
are not.

No kubelet runs there, so each test plays one: it creates the pods in a fresh
namespace (with the ``default`` ServiceAccount the admission plugin wants) and
writes ``status.phase=Running, podIP=127.0.0.1`` through the ``/status``
subresource; the pod's port annotation points at a real prometheus_client
exporter on loopback."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client

from deployments.services.clusters import cluster_add
from portal.actors import Actor
from telemetry.discovery import targets_discover
from telemetry.models import ScrapeTarget
from telemetry.scrape import metrics_scrape_round
from telemetry.selectors import instance_metric_series
from telemetry.storage.elastic import metrics_refresh
from tests.telemetry.conftest import deployed, kube_namespace
from tests.telemetry.support import exporter, requests_registry

pytestmark = [pytest.mark.django_db, pytest.mark.services]

INSTANCE = "app.kubernetes.io/instance"


@pytest.fixture(autouse=True)
def _no_stream(settings: Any) -> None:
    # The stream has tests of its own (test_stream.py); a real producer started here
    # would live on in the process and count among theirs.
    settings.KAFKA_BOOTSTRAP_SERVERS = ""


@pytest.fixture
def k8s_namespace(core: client.CoreV1Api) -> str:
    # A fresh one per test: without controllers a deleted namespace never goes away.
    name = f"metrics-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_service_account(name, {"metadata": {"name": "default"}})
    return name


def pod(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    *,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    running: bool = True,
) -> None:
    container: dict[str, Any] = {"name": "app", "image": "example.org/app:1"}
    if ports:
        container["ports"] = ports
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
            "spec": {"containers": [container]},
        },
    )
    if running:  # what a kubelet would report
        core.patch_namespaced_pod_status(
            name,
            namespace,
            {"status": {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}},
        )


def scraped_pod(port: int) -> dict[str, str]:
    return {"prometheus.io/port": str(port), "prometheus.io/path": "/metrics"}


@pytest.fixture(params=["database", "elasticsearch"])
def backend(request: Any, settings: Any) -> str:
    if request.param == "database":
        settings.ELASTICSEARCH_URL = ""
    elif not settings.ELASTICSEARCH_URL:
        pytest.skip("no Elasticsearch")
    return str(request.param)


def test_labelled_pods_and_pods_behind_labelled_services_are_found_and_scraped(
    kube, core, k8s_namespace, team, backend
):
    cluster = cluster_add(
        actor=Actor.system(),
        name="lab",
        server=kube.url,
        token=kube.token,
        ca_cert=kube.ca_cert,
        allow_private_network=True,
    )
    namespace = kube_namespace(team, cluster, k8s_namespace)
    web = deployed(namespace, "web")
    deployed(namespace, "other")
    with (
        exporter(requests_registry(served=12)) as labelled_port,
        exporter(requests_registry(served=99, extra_gauge="secret_depth")) as unlabelled_port,
        exporter(requests_registry(served=5, extra_gauge="backend_depth")) as backend_port,
    ):
        scrape = {"sreworks-prometheus-scrape-metric": "enable"}
        pod(core, k8s_namespace, "web-0", labels={INSTANCE: "web", **scrape},
            annotations=scraped_pod(labelled_port))  # fmt: skip
        # Not labelled for scraping, though its exporter answers.
        pod(core, k8s_namespace, "web-1", labels={INSTANCE: "web"},
            annotations=scraped_pod(unlabelled_port))  # fmt: skip
        # Labelled, but no kubelet ran it yet.
        pod(core, k8s_namespace, "web-2", labels={INSTANCE: "web", **scrape},
            annotations=scraped_pod(labelled_port), running=False)  # fmt: skip
        # Another instance's.
        pod(core, k8s_namespace, "other-0", labels={INSTANCE: "other", **scrape},
            annotations=scraped_pod(unlabelled_port))  # fmt: skip
        # Behind a labelled Service of the instance; its port named "metrics".
        pod(core, k8s_namespace, "backend-0", labels={"role": "backend"},
            ports=[{"name": "http", "containerPort": 8080},
                   {"name": "metrics", "containerPort": backend_port}])  # fmt: skip
        core.create_namespaced_service(
            k8s_namespace,
            {
                "metadata": {
                    "name": "web-metrics",
                    "labels": {INSTANCE: "web", "sreworks-telemetry-metric": "enable"},
                },
                "spec": {"selector": {"role": "backend"}, "ports": [{"port": 80}]},
            },
        )

        report = targets_discover()

        assert report.failed_clusters == {}
        found = {
            (t.pod, t.address, t.url, t.found_by) for t in ScrapeTarget.objects.filter(instance=web)
        }
        assert found == {
            ("web-0", f"127.0.0.1:{labelled_port}",
             f"http://127.0.0.1:{labelled_port}/metrics", "pod"),
            ("backend-0", f"127.0.0.1:{backend_port}",
             f"http://127.0.0.1:{backend_port}/metrics", "service:web-metrics"),
        }  # fmt: skip
        assert ScrapeTarget.objects.filter(pod="other-0").exists()

        round_report = metrics_scrape_round()

    assert round_report.down == 0 and round_report.up == 3
    if backend == "elasticsearch":
        metrics_refresh()
    series = instance_metric_series(instance=web, name="requests_total", since_seconds=600)
    by_pod = {(s.labels["pod"], s.labels["code"]): s.points[-1][1] for s in series}
    # web-0's exporter and backend-0's: never the unlabelled web-1 (99 requests).
    assert by_pod == {
        ("web-0", "200"): 12.0,
        ("web-0", "500"): 1.0,
        ("backend-0", "200"): 5.0,
        ("backend-0", "500"): 1.0,
    }
    assert {s.labels["opsmarket_namespace"] for s in series} == {k8s_namespace}
    assert {s.labels["opsmarket_instance"] for s in series} == {"web"}
    assert instance_metric_series(instance=web, name="secret_depth", since_seconds=600) == []
    assert instance_metric_series(instance=web, name="backend_depth", since_seconds=600)


def test_a_pod_that_stops_running_loses_its_target_and_bad_annotations_say_why(
    kube, core, k8s_namespace, team, settings
):
    cluster = cluster_add(
        actor=Actor.system(),
        name="lab",
        server=kube.url,
        token=kube.token,
        ca_cert=kube.ca_cert,
        allow_private_network=True,
    )
    web = deployed(kube_namespace(team, cluster, k8s_namespace), "web")
    scrape = {INSTANCE: "web", "sreworks-prometheus-scrape-metric": "enable"}
    pod(core, k8s_namespace, "web-0", labels=scrape, annotations={"prometheus.io/port": "9100"})
    pod(core, k8s_namespace, "web-bad", labels=scrape, annotations={"prometheus.io/port": "http"})
    pod(core, k8s_namespace, "web-noport", labels=scrape)
    targets_discover()
    rows = {t.pod: t for t in ScrapeTarget.objects.filter(instance=web)}
    assert rows["web-0"].url == "http://127.0.0.1:9100/metrics"
    assert (rows["web-bad"].health, rows["web-bad"].url, rows["web-bad"].last_error) == (
        "down",
        "",
        "annotation prometheus.io/port is not a port number: 'http'",
    )
    assert rows["web-noport"].last_error == (
        "the pod declares no container port and no prometheus.io/port annotation"
    )

    core.patch_namespaced_pod_status("web-0", k8s_namespace, {"status": {"phase": "Succeeded"}})
    targets_discover()
    remaining = set(ScrapeTarget.objects.filter(instance=web).values_list("pod", flat=True))
    assert remaining == {"web-bad", "web-noport"}

    web.status = "uninstalled"
    web.save(update_fields=["status"])
    targets_discover()
    assert not ScrapeTarget.objects.filter(instance=web).exists()
