"""The REST contract of SPEC section 5 for instances and operations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from deployments.models import Instance, Namespace, Operation
from deployments.workflow.engine import operation_execute
from market.models import Market
from portal.models import Role
from tests.deployments.conftest import commit_subjects
from tests.factories import make_namespace, make_team, make_user

URL = "/api/v1/namespaces/pay-prod/instances/"


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def install_body(**extra: Any) -> dict[str, Any]:
    return {"name": "shop", "market": "apps", "app": "web-app", "version": "1.0.0", **extra}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks", "gitops_repo")
def test_install_then_read_instance_operation_and_revisions(
    apps_market: Market, namespace: Namespace, operator: Any, gitops_repo: Path
) -> None:
    api = client_for(operator)
    response = api.post(
        URL, install_body(values={"replicas": 3, "apiKey": "top-secret"}), format="json"
    )

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["instance"]["name"] == "shop"
    assert [d["instance"] for d in body["dependencies"]] == ["pay-prod/redis-lite"]
    operation = api.get(f"/api/v1/operations/{body['operation']['id']}/").json()
    assert operation["state"] == "succeeded"
    assert [s["name"] for s in operation["steps"]] == [
        "resolve",
        "fetch",
        "validate",
        "render",
        "apply",
        "verify",
        "record",
    ]
    assert all(s["state"] == "succeeded" for s in operation["steps"])

    detail = api.get(URL + "shop/").json()
    assert (detail["status"], detail["version"], detail["revision"]) == ("deployed", "1.0.0", 1)
    assert detail["values"]["apiKey"] == "********"
    assert detail["values"]["replicas"] == 3
    assert {
        "kind": "Deployment",
        "name": "shop",
        "file": "deployment.yaml",
        "api_version": "apps/v1",
    } in detail["resources"]
    assert "top-secret" not in str(api.get(URL + "shop/").content)
    assert detail["dependencies"] == ["redis-lite"]

    revisions = api.get(URL + "shop/revisions/").json()
    assert [r["number"] for r in revisions["results"]] == [1]

    listed = api.get("/api/v1/instances/?app=web-app").json()
    assert [(i["name"], i["upgrade_available"]) for i in listed["results"]] == [("shop", "1.2.0")]
    assert api.get("/api/v1/instances/?status=failed").json()["count"] == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks", "gitops_repo")
def test_upgrade_dry_run_shows_diffs_and_changes_nothing(
    apps_market: Market, namespace: Namespace, operator: Any, gitops_repo: Path
) -> None:
    api = client_for(operator)
    api.post(URL, install_body(values={"apiKey": "first-key"}), format="json")
    commits = commit_subjects(gitops_repo)

    response = api.post(
        URL + "shop/upgrade/?dry_run=1",
        {"version": "1.1.0", "values": {"replicas": 5, "apiKey": "second-key"}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    preview = response.json()
    assert (preview["from_version"], preview["to_version"]) == ("1.0.0", "1.1.0")
    assert "-replicas: 2\n+replicas: 5" in preview["values_diff"]
    assert "+++ upgrade/configmap.yaml" in preview["manifests_diff"]
    assert "key" not in preview["values_diff"].replace("apiKey", "")
    assert commit_subjects(gitops_repo) == commits
    assert Operation.objects.filter(kind="upgrade").count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks", "gitops_repo")
def test_invalid_values_answer_400_listing_every_error(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    response = client_for(operator).post(
        URL,
        install_body(values={"replicas": 99, "logLevel": "loud", "image": {"tag": "x"}}),
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert len(body["fields"]["values"]) == 3
    assert Instance.objects.count() == 0 and Operation.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("gitops_repo")
def test_second_operation_on_a_busy_instance_answers_409(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    # No eager tasks and no commit in this test: requests stay queued, like
    # operations a worker has not finished yet.
    api = client_for(operator)
    accepted = api.post(URL, install_body(), format="json").json()
    for operation_id in (accepted["dependencies"][0]["id"], accepted["operation"]["id"]):
        operation_execute(operation_id)
    assert api.post(URL + "shop/upgrade/", {"version": "1.1.0"}, format="json").status_code == 202

    second = api.post(URL + "shop/rollback/", {"revision": 1}, format="json")
    third = api.delete(URL + "shop/")

    assert second.status_code == 409 and "in progress" in second.json()["detail"]
    assert third.status_code == 409
    assert Operation.objects.filter(instance__name="shop").count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks", "gitops_repo")
def test_viewer_cannot_install_and_other_teams_instances_are_404(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    viewer = make_user("vera")
    namespace.team.memberships.create(user=viewer, role=Role.VIEWER)
    outsider = make_user("otto")
    make_namespace(make_team("other", members={outsider: Role.ADMIN}), "other-ns")
    client_for(operator).post(URL, install_body(), format="json")

    refused = client_for(viewer).post(URL, install_body(name="shop2"), format="json")
    assert refused.status_code == 403
    assert client_for(viewer).get(URL + "shop/").status_code == 200

    stranger = client_for(outsider)
    assert stranger.get(URL + "shop/").status_code == 404
    assert stranger.get(URL + "shop/revisions/").status_code == 404
    assert stranger.delete(URL + "shop/").status_code == 404
    assert stranger.post(URL, install_body(name="x"), format="json").status_code == 404
    operation = Operation.objects.filter(instance__name="shop").first()
    assert operation is not None
    assert stranger.get(f"/api/v1/operations/{operation.pk}/").status_code == 404
    assert stranger.get("/api/v1/instances/").json()["count"] == 0
    assert Instance.objects.filter(name="shop2").count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks", "gitops_repo")
def test_uninstall_refused_while_needed_unless_forced(
    apps_market: Market, namespace: Namespace, operator: Any, gitops_repo: Path
) -> None:
    api = client_for(operator)
    api.post(URL, install_body(), format="json")

    refused = api.delete(URL + "redis-lite/")
    forced = api.delete(URL + "redis-lite/?force=1")

    assert refused.status_code == 409 and "would break pay-prod/shop" in refused.json()["detail"]
    assert forced.status_code == 202
    assert Instance.objects.get(name="redis-lite").status == "uninstalled"
    assert commit_subjects(gitops_repo)[-1] == "uninstall pay-prod/redis-lite redis-lite@1.0.0"


@pytest.mark.django_db
def test_malformed_operation_id_is_404(operator: Any) -> None:
    api = client_for(operator)
    for bad in ("nope", "00000000-0000-0000-0000-000000000000", "1' OR '1'='1"):
        response = api.get(f"/api/v1/operations/{bad}/")
        assert response.status_code == 404, bad
        assert response.json()["error"] == "not_found"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks", "gitops_repo")
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "Shop"}, "lowercase"),
        ({"name": "../etc"}, "lowercase"),
        ({"name": "a" * 54}, "no more than 53"),
        ({"version": "1.0"}, "not SemVer"),
        ({"version": "9.9.9"}, "has no version 9.9.9"),
        ({"app": "no-such-app"}, "no app named"),
        ({"app": "no-such-app", "version": ""}, "no app named"),
        ({"app": "no-such-app", "version": "1.0"}, "no app named"),
        ({"market": "elsewhere"}, "No market named"),
        ({"values": ["replicas", 3]}, "values must be a mapping"),
        ({"values": {"replicas": "3"}}, "is not of type 'integer'"),
    ],
)
def test_hostile_install_requests_answer_400_and_write_nothing(
    apps_market: Market,
    namespace: Namespace,
    operator: Any,
    change: dict[str, Any],
    expected: str,
) -> None:
    response = client_for(operator).post(URL, install_body(**change), format="json")

    assert response.status_code == 400, response.json()
    assert expected in response.json()["detail"]
    assert Instance.objects.count() == 0 and Operation.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks", "gitops_repo")
def test_operation_steps_carry_a_log(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    api = client_for(operator)
    accepted = api.post(URL, install_body(version="1.2.0"), format="json").json()

    operation = api.get(f"/api/v1/operations/{accepted['operation']['id']}/").json()

    steps = {s["name"]: s for s in operation["steps"]}
    assert operation["state"] == "failed"
    assert "attempt 1: started" in steps["apply"]["log"]
    assert "gitops commit" in steps["apply"]["log"]
    assert "failed: manifests a GitOps controller would refuse" in steps["verify"]["log"]
    assert steps["record"]["state"] == "skipped"
