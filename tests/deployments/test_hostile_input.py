"""Installs and instance pages under hostile or badly timed input (issue 11, items 6-7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from deployments.models import Instance, Namespace, Operation
from market.models import Market
from market.package import build_package
from portal.models import Role
from tests.deployments.apps import sources, write

URL = "/api/v1/namespaces/pay-prod/instances/"


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _body(**extra: Any) -> dict[str, Any]:
    return {"name": "shop", "market": "apps", "app": "web-app", "version": "1.0.0", **extra}


@pytest.mark.django_db
@pytest.mark.usefixtures("gitops_repo")
def test_install_with_1000_deep_values_is_a_400(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    deep = '{"replicas": 2, "x": ' + "[" * 1000 + "]" * 1000 + "}"
    body = '{"name": "shop", "market": "apps", "app": "web-app", "version": "1.0.0", '
    body += f'"values": {deep}}}'
    response = _api(operator).generic("POST", URL, body, content_type="application/json")

    assert response.status_code == 400, response.content[:300]
    assert "nested too deeply" in response.json()["detail"]
    assert Instance.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("gitops_repo")
@pytest.mark.parametrize(
    "values",
    [
        {"replicas": 2, "logLevel": "info\x00evil"},
        {"replicas": 2, "extra": {"nested\x00key": "x"}},
        {"replicas": 2, "apiKey": "secret\x00part"},
    ],
)
def test_values_with_nul_characters_are_refused(
    apps_market: Market, namespace: Namespace, operator: Any, values: dict[str, Any]
) -> None:
    response = _api(operator).post(URL, _body(values=values), format="json")

    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert any("NUL" in line for line in body["fields"]["values"]), body
    assert "secret" not in response.content.decode()
    assert Instance.objects.count() == 0 and Operation.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks", "gitops_repo")
def test_diff_with_a_revision_number_too_large_is_not_a_server_error(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    assert _api(operator).post(URL, _body(), format="json").status_code == 202
    client = Client()
    client.force_login(operator)

    huge = "9" * 25
    response = client.get(f"/instances/pay-prod/shop/diff/?from={huge}&to={huge}")

    assert response.status_code in (200, 404)
    assert client.get("/instances/pay-prod/shop/diff/?from=-1").status_code in (200, 404)


@pytest.mark.django_db
@pytest.mark.usefixtures("gitops_repo")
def test_a_version_just_published_can_be_installed_at_once(
    apps_market: Market, namespace: Namespace, operator: Any, tmp_path: Path
) -> None:
    apps_market.publishers.add(namespace.team)
    namespace.team.memberships.filter(user=operator).update(role=Role.OPERATOR)
    files = dict(sources()[("web-app", "1.1.0")])
    files["manifest.yaml"] = files["manifest.yaml"].replace('"1.1.0"', '"1.3.0"')
    built = build_package(write(tmp_path / "src-new", files), out_dir=tmp_path / "new")
    api = _api(operator)

    published = api.post(
        "/api/v1/markets/apps/packages/",
        {"archive": built.path.open("rb")},
        format="multipart",
    )
    assert published.status_code == 201, published.content[:300]
    # No worker has run the sync the publish queued: the publish itself told the
    # catalogue about 1.3.0.
    response = api.post(URL, _body(version="1.3.0", values={"replicas": 2}), format="json")

    assert response.status_code == 202, response.content[:300]
    assert api.get("/api/v1/markets/apps/apps/web-app/").json()["latest"] == "1.3.0"
