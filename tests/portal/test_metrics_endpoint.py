"""GET /metrics: the portal's own metrics in the Prometheus text format (SPEC 10), for
a staff token or an address in METRICS_ALLOW_FROM, and nothing for anyone else."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from deployments.models import Instance, InstanceStatus, Operation, OperationKind, OperationState
from market.models import Market
from tests.factories import make_namespace, make_team, make_token, make_user

pytestmark = pytest.mark.django_db

OUTSIDE = "203.0.113.9"  # TEST-NET-3: never loopback, never in the default allow list


def families(body: bytes) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def sample_value(family: Any, **labels: str) -> float:
    matches = [s.value for s in family.samples if s.labels == labels]
    assert len(matches) == 1, (family.name, labels, family.samples)
    return float(matches[0])


def test_loopback_reads_the_text_format_with_operations_instances_queues_and_latency(client):
    namespace = make_namespace(make_team())
    market = Market.objects.create(name="m1", location="/nowhere")
    instance = Instance.objects.create(
        namespace=namespace,
        name="web",
        market=market,
        app_name="web",
        version="1.0.0",
        status=InstanceStatus.FAILED,
    )
    for state in (OperationState.SUCCEEDED, OperationState.FAILED, OperationState.FAILED):
        Operation.objects.create(instance=instance, kind=OperationKind.UPGRADE, state=state)
    client.get("/healthz")  # one request the latency histogram has seen

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    found = families(response.content)
    assert sample_value(found["opsmarket_operations"], kind="upgrade", state="failed") == 2
    assert sample_value(found["opsmarket_operations"], kind="upgrade", state="succeeded") == 1
    assert sample_value(found["opsmarket_operations"], kind="install", state="running") == 0
    assert sample_value(found["opsmarket_instances"], status="failed") == 1
    assert "celery" in {s.labels["queue"] for s in found["opsmarket_queue_messages"].samples}
    latency = found["opsmarket_http_request_duration_seconds"]
    counts = [
        s
        for s in latency.samples
        if s.name.endswith("_count")
        and s.labels["route"] == "/healthz"
        and s.labels["method"] == "GET"
    ]
    assert counts and counts[0].value >= 1
    sources = found["opsmarket_metrics_source_up"]
    assert sample_value(sources, source="database") == 1
    assert sample_value(sources, source="queue") == 1
    # The portal's own registry: nothing of prometheus_client's default one.
    assert not any(name.startswith(("python_", "process_")) for name in found)


def test_a_path_per_object_is_one_series_per_url_pattern(client):
    for name in ("a", "b", "c"):
        client.get(f"/docs/guide/{name}/")
    client.get("/no/such/page/at/all")

    latency = families(client.get("/metrics").content)["opsmarket_http_request_duration_seconds"]

    routes = {s.labels["route"] for s in latency.samples}
    assert "/docs/guide/<slug:slug>/" in routes
    assert "unmatched" in routes
    assert not any("/docs/guide/a" in route for route in routes)


def test_another_address_without_a_token_is_refused_and_told_nothing(client):
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE)

    assert response.status_code == 403
    assert b"opsmarket_" not in response.content
    assert len(response.content) < 40


def test_forwarded_for_from_an_untrusted_peer_does_not_open_the_door(client):
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_X_FORWARDED_FOR="127.0.0.1")

    assert response.status_code == 403


def test_a_staff_token_reads_from_anywhere(client):
    token = make_token(make_user("ops-admin", staff=True))

    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200
    assert "opsmarket_operations" in families(response.content)


def test_a_token_of_someone_not_staff_is_refused_even_from_loopback(client):
    token = make_token(make_user("bob"))

    for address in (OUTSIDE, "127.0.0.1"):
        response = client.get("/metrics", REMOTE_ADDR=address, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 403
        assert b"opsmarket_" not in response.content


def test_a_bad_token_is_401_and_counted_as_a_failure(client, settings):
    settings.AUTH_FAILURE_LIMIT = 2
    statuses = [
        client.get(
            "/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer omk_not-a-real-token"
        ).status_code
        for _ in range(3)
    ]

    assert statuses == [401, 401, 429]


def test_the_allow_list_is_a_setting(client, settings):
    settings.METRICS_ALLOW_FROM = ["203.0.113.0/24"]

    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="::ffff:203.0.113.7").status_code == 200


def test_only_get(client):
    assert client.post("/metrics").status_code == 405
