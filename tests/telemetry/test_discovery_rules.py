"""Which address discovery takes from a pod (SPEC section 10), on pods as the API
server returns them; the cluster tests are in test_discovery.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from kubernetes import client

from telemetry.discovery import FoundTarget, pod_target

pytestmark = pytest.mark.smoke


def pod(
    *,
    annotations: dict[str, str] | None = None,
    ports: Sequence[tuple[str | None, int]] | None = None,
    phase: str = "Running",
    ip: str | None = "10.0.0.7",
) -> Any:
    container = client.V1Container(
        name="app",
        ports=[client.V1ContainerPort(name=n, container_port=p) for n, p in ports or []],
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="web-0", annotations=annotations),
        spec=client.V1PodSpec(containers=[container]),
        status=client.V1PodStatus(phase=phase, pod_ip=ip),
    )


def url(p: Any) -> str:
    found = pod_target(p, found_by="pod")
    assert found is not None
    return found.url or f"error: {found.error}"


def test_the_port_comes_from_the_annotation_then_the_metrics_port_then_the_first():
    ports = [("http", 8080), ("metrics", 9100)]
    assert url(pod(annotations={"prometheus.io/port": "9999"}, ports=ports)) == (
        "http://10.0.0.7:9999/metrics"
    )
    assert url(pod(ports=ports)) == "http://10.0.0.7:9100/metrics"
    assert url(pod(ports=[("http", 8080), (None, 81)])) == "http://10.0.0.7:8080/metrics"


def test_the_path_comes_from_its_annotation():
    annotations = {"prometheus.io/port": "9100", "prometheus.io/path": "/stats/prometheus"}
    assert url(pod(annotations=annotations)) == "http://10.0.0.7:9100/stats/prometheus"


def test_an_ipv6_pod_gets_a_bracketed_address():
    found = pod_target(pod(ports=[("metrics", 9100)], ip="fd00::7"), found_by="pod")
    assert found == FoundTarget("web-0", "[fd00::7]:9100", "http://[fd00::7]:9100/metrics", "pod")


@pytest.mark.parametrize(
    ("annotations", "error"),
    [
        ({"prometheus.io/port": "http"}, "annotation prometheus.io/port is not a port number"),
        ({"prometheus.io/port": "²"}, "annotation prometheus.io/port is not a port number"),
        ({"prometheus.io/port": "70000"}, "annotation prometheus.io/port is not a port number"),
        ({"prometheus.io/port": "0"}, "annotation prometheus.io/port is not a port number"),
        (
            {"prometheus.io/port": "9100", "prometheus.io/path": "metrics"},
            "annotation prometheus.io/path is not a path starting with /",
        ),
        (
            {"prometheus.io/port": "9100", "prometheus.io/path": "/m HTTP/1.1\r\nX: y"},
            "annotation prometheus.io/path is not a path starting with /",
        ),
    ],
)
def test_unreadable_annotations_are_reported_not_scraped(annotations, error):
    assert url(pod(annotations=annotations, ports=[("metrics", 9100)])).startswith(
        f"error: {error}"
    )


def test_pods_not_running_or_without_an_ip_are_skipped():
    assert pod_target(pod(phase="Pending", ports=[("m", 1)]), found_by="pod") is None
    assert pod_target(pod(ip=None, ports=[("m", 1)]), found_by="pod") is None
