"""Secrets and their mask (SPEC section 11): the mask sent back keeps the stored secret,
and masked manifests are rendered with the mask, so no form of a secret shows."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from deployments.models import Instance, Namespace, Operation, Revision
from market.models import Market
from market.package import build_package
from market.services.publish import package_publish
from market.services.sync import market_sync
from portal.actors import Actor
from tests.deployments.apps import write
from tests.deployments.conftest import files_under
from tests.factories import make_user
from tests.market.helpers import local_market

URL = "/api/v1/namespaces/pay-prod/instances/"
SECRET = "Tr0ub4dor-S3cret"
MASK = "********"

# The secret through filters: none of these forms may show outside the target.
SHOWN_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ instance.name }}
data:
  encoded: "{{ values.password | b64encode }}"
  upper: "{{ values.password | upper }}"
  reversed: "{{ values.password | reverse }}"
  joined: "{{ values.password | join('.') }}"
  "{{ values.password }}": as-a-key
  plain: "{{ values.password }}"
"""

SCHEMA = {
    "type": "object",
    "properties": {
        "replicas": {"type": "integer"},
        "password": {"type": "string", "writeOnly": True},
    },
}


def forms_of(secret: str) -> list[str]:
    return [
        secret,
        base64.b64encode(secret.encode()).decode(),
        secret.upper(),
        secret[::-1],
        ".".join(secret),
    ]


@pytest.fixture
def vault_market(db: None, tmp_path: Path, settings: Any) -> Market:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    market = local_market(tmp_path, "vaults")
    for version in ("1.0.0", "1.1.0"):
        files = {
            "manifest.yaml": (
                f'schema: 1\nname: vault\nversion: "{version}"\ntitle: Vault\n'
                "summary: shows its secret in many forms\ncategory: testing\nlicense: MIT\n"
            ),
            "values.yaml": 'replicas: 1\npassword: ""\n',
            "values.schema.json": json.dumps(SCHEMA),
            "templates/config.yaml": SHOWN_TEMPLATE,
        }
        folder = write(tmp_path / "src" / version, files)
        built = build_package(folder, out_dir=tmp_path / "built")
        package_publish(actor=Actor.system(), market=market, data=built.path.read_bytes())
    market_sync(market=market)
    return market


def api_for(user: Any) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def install(api: APIClient) -> Instance:
    response = api.post(
        URL,
        {
            "name": "v",
            "market": "vaults",
            "app": "vault",
            "version": "1.0.0",
            "values": {"password": SECRET, "replicas": 1},
        },
        format="json",
    )
    assert response.status_code == 202, response.json()
    return Instance.objects.get(name="v")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
def test_masked_manifests_show_no_form_of_a_secret(
    vault_market: Market, namespace: Namespace, operator: Any, gitops_repo: Path
) -> None:
    instance = install(api_for(operator))

    # The target holds the real secret in every form.
    deployed = files_under(gitops_repo, "pay-prod/v")["config.yaml"]
    assert all(form in deployed for form in forms_of(SECRET))
    revision = instance.current_revision
    assert revision is not None
    masked = revision.manifests_masked["config.yaml"]
    assert all(form not in masked for form in forms_of(SECRET)), masked
    assert f'plain: "{MASK}"' in masked and f'upper: "{MASK}"' in masked

    client = Client()
    client.force_login(operator)
    page = client.get(reverse("instance-detail", args=["pay-prod", "v"]))
    assert page.status_code == 200
    admin = Client()
    admin.force_login(make_user("root", staff=True))
    change = admin.get(reverse("admin:deployments_revision_change", args=[revision.pk]))
    assert change.status_code == 200
    for shown in (page.content.decode(), change.content.decode()):
        assert all(form not in shown for form in forms_of(SECRET))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
def test_the_mask_sent_back_keeps_the_stored_secret(
    vault_market: Market, namespace: Namespace, operator: Any, gitops_repo: Path
) -> None:
    api = api_for(operator)
    install(api)
    shown = api.get(URL + "v/").json()["values"]
    assert shown["password"] == MASK

    sent_back = {**shown, "replicas": 2}
    preview = api.post(
        URL + "v/upgrade/?dry_run=1", {"version": "1.1.0", "values": sent_back}, format="json"
    )
    assert preview.status_code == 200, preview.json()
    diff_lines = preview.json()["values_diff"].splitlines()
    changed = [line[1:] for line in diff_lines if line[:1] in ("+", "-")]
    assert not [line for line in changed if line.startswith("password")]
    assert "+replicas: 2" in preview.json()["values_diff"]

    upgraded = api.post(
        URL + "v/upgrade/", {"version": "1.1.0", "values": sent_back}, format="json"
    )
    assert upgraded.status_code == 202, upgraded.json()
    assert Operation.objects.get(kind="upgrade").state == "succeeded"
    deployed = files_under(gitops_repo, "pay-prod/v")["config.yaml"]
    assert f'plain: "{SECRET}"' in deployed
    assert MASK not in deployed
    latest = Revision.objects.filter(instance__name="v").order_by("-number").first()
    assert latest is not None and MASK not in str(latest.values_encrypted)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
def test_the_mask_is_refused_where_no_secret_is_stored(
    vault_market: Market, namespace: Namespace, operator: Any, gitops_repo: Path
) -> None:
    response = api_for(operator).post(
        URL,
        {"name": "v", "market": "vaults", "app": "vault", "values": {"password": MASK}},
        format="json",
    )

    assert response.status_code == 400, response.json()
    assert "password" in response.json()["detail"] and MASK in response.json()["detail"]
    assert not Instance.objects.filter(name="v").exists()
