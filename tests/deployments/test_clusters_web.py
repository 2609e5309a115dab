"""Clusters through the API, the pages and the admin console: staff add and remove
them, everyone signed in sees their state, the server URL is staff's, and the token
never comes back out of any of them."""

from __future__ import annotations

from typing import Any

import pytest

from deployments.models import Cluster
from deployments.services.clusters import cluster_add
from portal.actors import Actor
from portal.models import AuditEvent
from tests.deployments.kube_support import KubeServer

pytestmark = [pytest.mark.django_db, pytest.mark.services]


def body(kube: KubeServer, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "prod",
        "server": kube.url,
        "ca_cert": kube.ca_cert,
        "token": kube.token,
        "allow_private_network": True,
    }
    data.update(overrides)
    return data


@pytest.fixture
def prod(kube: KubeServer) -> Cluster:
    return cluster_add(
        actor=Actor.system(),
        name="prod",
        server=kube.url,
        token=kube.token,
        ca_cert=kube.ca_cert,
        allow_private_network=True,
        description="production",
    )


def secrets_absent(kube: KubeServer, text: str, cluster: Cluster | None = None) -> None:
    assert kube.token not in text
    if cluster is not None:
        # Not even the ciphertext.
        assert Cluster.objects.get(pk=cluster.pk).token_encrypted not in text


# --- API ----------------------------------------------------------------------------


def test_staff_add_a_cluster_through_the_api(api_client, staff_user, kube):
    api_client.force_authenticate(staff_user)

    response = api_client.post("/api/v1/clusters/", body(kube), format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert {key: data[key] for key in ("name", "server", "version", "reachable")} == {
        "name": "prod",
        "server": kube.url,
        "version": "v1.34.2",
        "reachable": True,
    }
    assert data["checked_at"] and data["state"] == "reachable"
    assert "token" not in data
    cluster = Cluster.objects.get(name="prod")
    secrets_absent(kube, response.content.decode(), cluster)
    event = AuditEvent.objects.get(action="cluster.add")
    assert (event.actor, event.via) == (staff_user, "api")


def test_a_refused_cluster_answers_400_with_the_reason(api_client, staff_user, kube):
    api_client.force_authenticate(staff_user)

    response = api_client.post(
        "/api/v1/clusters/", body(kube, token=kube.limited_token), format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "cluster_refused"
    assert "the token's user 'limited' may not create namespaces" in response.json()["detail"]
    assert kube.limited_token not in response.content.decode()
    assert not Cluster.objects.exists()


def test_only_staff_add_clusters(api_client, user, kube):
    api_client.force_authenticate(user)
    response = api_client.post("/api/v1/clusters/", body(kube), format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert not Cluster.objects.exists()


def test_anonymous_callers_get_401(api_client):
    assert api_client.get("/api/v1/clusters/").status_code == 401


def test_staff_list_clusters_with_their_server(api_client, staff_user, kube, prod):
    api_client.force_authenticate(staff_user)

    response = api_client.get("/api/v1/clusters/")

    results = response.json()["results"]
    assert [(c["name"], c["server"], c["version"], c["reachable"]) for c in results] == [
        ("prod", kube.url, "v1.34.2", True)
    ]
    detail = api_client.get("/api/v1/clusters/prod/")
    assert detail.json()["server"] == kube.url
    for text in (response.content.decode(), detail.content.decode()):
        secrets_absent(kube, text, prod)


def test_others_see_the_state_but_not_the_server(api_client, user, kube, prod):
    api_client.force_authenticate(user)

    results = api_client.get("/api/v1/clusters/").json()["results"]

    assert [(c["name"], c["server"], c["state"]) for c in results] == [("prod", None, "reachable")]
    assert api_client.get("/api/v1/clusters/prod/").json()["server"] is None
    assert api_client.get("/api/v1/clusters/nope/").status_code == 404


def test_staff_remove_a_cluster_with_an_audit_record(api_client, staff_user, user, kube, prod):
    api_client.force_authenticate(user)
    assert api_client.delete("/api/v1/clusters/prod/").status_code == 403
    api_client.force_authenticate(staff_user)

    assert api_client.delete("/api/v1/clusters/prod/").status_code == 204

    assert not Cluster.objects.exists()
    assert AuditEvent.objects.filter(action="cluster.remove", actor=staff_user).count() == 1


# --- pages ----------------------------------------------------------------------------


def test_the_clusters_page_shows_each_cluster_state_to_staff(client, staff_user, kube, prod):
    Cluster.objects.create(name="edge", server="https://10.0.0.9:6443", token_encrypted="x")
    client.force_login(staff_user)

    html = client.get("/clusters/").content.decode()

    assert "prod" in html and "v1.34.2" in html and kube.url in html
    assert "Reachable" in html and "Unknown" in html  # edge was never checked
    assert 'href="/clusters/new/"' in html
    secrets_absent(kube, html, prod)


def test_others_see_the_clusters_page_without_servers(client, user, kube, prod):
    client.force_login(user)
    html = client.get("/clusters/").content.decode()
    assert "prod" in html and "Reachable" in html
    assert kube.url not in html and 'href="/clusters/new/"' not in html
    assert client.get("/clusters/new/").status_code == 403


def test_staff_add_a_cluster_in_the_form(client, staff_user, kube):
    client.force_login(staff_user)
    form = body(kube)
    form["allow_private_network"] = "on"

    response = client.post("/clusters/new/", form)

    assert response.status_code == 302 and response["Location"] == "/clusters/"
    assert Cluster.objects.get(name="prod").version == "v1.34.2"
    page = client.get("/clusters/").content.decode()
    assert "Cluster prod added: Kubernetes v1.34.2." in page


def test_a_refused_form_says_why_and_does_not_render_the_token_back(client, staff_user, kube):
    client.force_login(staff_user)
    form = body(kube)
    del form["allow_private_network"]  # the guard refuses 127.0.0.1 without it

    response = client.post("/clusters/new/", form)

    html = response.content.decode()
    assert response.status_code == 400
    assert "a cluster inside your network needs the allow flag" in html
    assert kube.token not in html
    assert not Cluster.objects.exists()


# --- admin ----------------------------------------------------------------------------


def test_the_admin_lists_and_shows_a_cluster_without_its_token(client, staff_user, kube, prod):
    client.force_login(staff_user)

    changelist = client.get("/admin/deployments/cluster/")
    change = client.get(f"/admin/deployments/cluster/{prod.pk}/change/")

    assert changelist.status_code == change.status_code == 200
    assert "prod" in changelist.content.decode()
    html = change.content.decode()
    assert "stored encrypted; never shown" in html and "v1.34.2" in html
    assert 'name="token_encrypted"' not in html
    for text in (changelist.content.decode(), html):
        secrets_absent(kube, text, prod)


def test_adding_in_the_admin_goes_to_the_portal_form(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/admin/deployments/cluster/add/")
    assert response.status_code == 302 and response["Location"] == "/clusters/new/"


def test_deleting_in_the_admin_audits_once(client, staff_user, prod):
    client.force_login(staff_user)

    response = client.post(f"/admin/deployments/cluster/{prod.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Cluster.objects.exists()
    assert list(
        AuditEvent.objects.filter(action__startswith="cluster.")
        .values_list("action", flat=True)
        .order_by("id")
    ) == ["cluster.add", "cluster.remove"]
