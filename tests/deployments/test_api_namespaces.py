"""Namespaces through the API: each owned by a team, seen only by its members."""

from __future__ import annotations

import pytest

from deployments.models import Cluster, Namespace
from portal.crypto import encrypt_json
from portal.models import AuditEvent, Membership, Role
from tests.factories import make_namespace, make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(user):
    return make_team("ops", members={user: Role.OPERATOR})


def test_list_shows_only_namespaces_of_the_callers_teams(api_client, user, ops):
    make_namespace(ops, "ops-prod")
    make_namespace(make_team("dba"), "dba-prod")
    api_client.force_authenticate(user)

    body = api_client.get("/api/v1/namespaces/").json()

    assert set(body) == {"count", "next", "previous", "results"}
    assert [n["name"] for n in body["results"]] == ["ops-prod"]
    assert body["results"][0]["team"] == "ops"
    assert body["results"][0]["target"] == "gitops"


def test_staff_see_every_namespace(api_client, staff_user, ops):
    make_namespace(ops, "ops-prod")
    make_namespace(make_team("dba"), "dba-prod")
    api_client.force_authenticate(staff_user)
    assert api_client.get("/api/v1/namespaces/").json()["count"] == 2
    assert api_client.get("/api/v1/namespaces/?team=dba").json()["count"] == 1


def test_another_teams_namespace_answers_404(api_client, user, ops):
    make_namespace(make_team("dba"), "dba-prod")
    api_client.force_authenticate(user)
    response = api_client.get("/api/v1/namespaces/dba-prod/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_operator_creates_a_namespace_with_one_audit_record(api_client, user, ops):
    api_client.force_authenticate(user)

    response = api_client.post(
        "/api/v1/namespaces/", {"name": "ops-staging", "team": "ops"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["team"] == "ops"
    namespace = Namespace.objects.get(name="ops-staging")
    assert namespace.team == ops
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.target_type, event.target_id, event.ip_address) == (
        "namespace.create",
        user,
        "deployments.namespace",
        str(namespace.pk),
        "127.0.0.1",
    )
    assert event.detail == {"team": "ops", "target": "gitops"}


def test_viewer_cannot_create_a_namespace(api_client, ops):
    viewer = make_user("vic")
    Membership.objects.create(team=ops, user=viewer, role=Role.VIEWER)
    api_client.force_authenticate(viewer)
    response = api_client.post("/api/v1/namespaces/", {"name": "x", "team": "ops"}, format="json")
    assert response.status_code == 403
    assert not Namespace.objects.filter(name="x").exists()


def test_namespace_in_a_team_the_caller_cannot_see_is_refused_without_leaking(
    api_client, user, ops
):
    make_team("dba")
    api_client.force_authenticate(user)
    hidden = api_client.post("/api/v1/namespaces/", {"name": "x", "team": "dba"}, format="json")
    missing = api_client.post("/api/v1/namespaces/", {"name": "x", "team": "nope"}, format="json")
    assert hidden.status_code == missing.status_code == 400
    assert hidden.json()["detail"].replace("dba", "T") == missing.json()["detail"].replace(
        "nope", "T"
    )


def test_duplicate_and_bad_namespace_names(api_client, user, ops):
    make_namespace(ops, "ops-prod")
    api_client.force_authenticate(user)
    duplicate = api_client.post(
        "/api/v1/namespaces/", {"name": "ops-prod", "team": "ops"}, format="json"
    )
    bad = api_client.post("/api/v1/namespaces/", {"name": "Ops_Prod", "team": "ops"}, format="json")
    assert duplicate.status_code == 409
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid"
    assert AuditEvent.objects.count() == 0


def _cluster(name: str = "prod") -> Cluster:
    # A row as cluster_add stores it; these tests never call the server.
    return Cluster.objects.create(
        name=name, server="https://k8s.example.test:6443", token_encrypted=encrypt_json("x")
    )


def test_a_kubernetes_namespace_names_its_cluster(api_client, user, ops):
    _cluster("prod")
    api_client.force_authenticate(user)

    response = api_client.post(
        "/api/v1/namespaces/",
        {"name": "shop", "team": "ops", "target": "kubernetes", "cluster": "prod"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert (response.json()["target"], response.json()["cluster"]) == ("kubernetes", "prod")
    assert Namespace.objects.filter(name="shop", cluster__name="prod").exists()
    assert AuditEvent.objects.get().detail == {
        "team": "ops",
        "target": "kubernetes",
        "cluster": "prod",
    }
    listed = api_client.get("/api/v1/namespaces/").json()["results"]
    assert [(n["name"], n["cluster"]) for n in listed] == [("shop", "prod")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"target": "kubernetes"}, "needs a cluster"),
        ({"target": "kubernetes", "cluster": "nowhere"}, "No such cluster: 'nowhere'"),
        ({"target": "gitops", "cluster": "prod"}, "Only a namespace with target 'kubernetes'"),
    ],
)
def test_a_kubernetes_namespace_without_a_known_cluster_is_refused(
    api_client, user, ops, body, expected
):
    _cluster("prod")
    api_client.force_authenticate(user)

    response = api_client.post(
        "/api/v1/namespaces/", {"name": "shop", "team": "ops", **body}, format="json"
    )

    assert response.status_code == 400
    assert expected in response.json()["detail"]
    assert not Namespace.objects.filter(name="shop").exists()
    assert not AuditEvent.objects.exists()
