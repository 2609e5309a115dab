"""Dependency-safe changes (SPEC section 11, issue 11 item 8): an upgrade, rollback or
uninstall that would leave a deployed dependent outside the range it needs is
refused with 409 breaks_dependents naming each one, the dry run lists them, the pages
say so before the user confirms, and ``force`` proceeds with an audit record.

The market: web-app 1.0.0 needs redis-lite ^1.0.0; redis-lite 1.5.0 and 2.0.0 are
published here beside the 1.0.0 the install brings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from deployments.models import Instance, Namespace, Operation
from market.models import Market
from market.package import build_package
from market.services.publish import package_publish
from market.services.sync import market_sync
from portal.actors import Actor
from portal.models import AuditEvent
from tests.deployments.apps import _manifest, sources, write
from tests.deployments.test_values_form import browser_post
from tests.factories import PASSWORD

pytestmark = [
    pytest.mark.smoke,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks", "gitops_repo"),
]

WEB_NEEDS = {"namespace": "pay-prod", "instance": "shop", "app": "web-app", "range": "^1.0.0"}


def publish_redis(market: Market, tmp_path: Path, version: str) -> None:
    files = {
        **sources()[("redis-lite", "1.0.0")],
        "manifest.yaml": _manifest("redis-lite", version),
    }
    built = build_package(write(tmp_path / "src" / f"redis-{version}", files), out_dir=tmp_path)
    package_publish(actor=Actor.system(), market=market, data=built.path.read_bytes())
    market_sync(market=market)


@pytest.fixture
def api(operator: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(operator)
    return client


@pytest.fixture
def redis(api: APIClient, apps_market: Market, namespace: Namespace, tmp_path: Path) -> Instance:
    """shop (web-app 1.0.0) installed, with redis-lite 1.0.0 as its dependency."""
    response = api.post(
        "/api/v1/namespaces/pay-prod/instances/",
        {"name": "shop", "market": "apps", "app": "web-app", "version": "1.0.0"},
        format="json",
    )
    assert response.status_code == 202, response.content
    for version in ("1.5.0", "2.0.0"):
        publish_redis(apps_market, tmp_path, version)
    redis = Instance.objects.get(namespace=namespace, name="redis-lite")
    assert (redis.status, redis.version) == ("deployed", "1.0.0")
    return redis


URL = "/api/v1/namespaces/pay-prod/instances/redis-lite"


def test_an_upgrade_outside_a_dependents_range_is_refused_and_changes_nothing(
    api: APIClient, redis: Instance
) -> None:
    operations = Operation.objects.count()

    response = api.post(f"{URL}/upgrade/", {"version": "2.0.0"}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "breaks_dependents"
    assert body["dependents"] == [WEB_NEEDS]
    assert "pay-prod/shop (web-app needs ^1.0.0)" in body["detail"]
    assert Operation.objects.count() == operations
    redis.refresh_from_db()
    assert (redis.status, redis.version) == ("deployed", "1.0.0")


def test_the_dry_run_lists_the_dependents_it_would_break(api: APIClient, redis: Instance) -> None:
    breaking = api.post(f"{URL}/upgrade/?dry_run=1", {"version": "2.0.0"}, format="json")
    fine = api.post(f"{URL}/upgrade/?dry_run=1", {"version": "1.5.0"}, format="json")

    assert breaking.status_code == 200
    assert breaking.json()["dependents"] == [WEB_NEEDS]
    assert fine.json()["dependents"] == []


def test_an_upgrade_within_the_range_goes_through(api: APIClient, redis: Instance) -> None:
    response = api.post(f"{URL}/upgrade/", {"version": "1.5.0"}, format="json")

    assert response.status_code == 202
    redis.refresh_from_db()
    assert redis.version == "1.5.0"


def test_force_proceeds_is_audited_and_the_broken_link_shows_on_the_dependent(
    api: APIClient, redis: Instance, operator: Any
) -> None:
    response = api.post(f"{URL}/upgrade/?force=1", {"version": "2.0.0"}, format="json")

    assert response.status_code == 202
    redis.refresh_from_db()
    assert redis.version == "2.0.0"
    event = AuditEvent.objects.filter(action="instance.upgrade").latest("created_at")
    assert event.detail["force"] is True
    assert event.detail["dependents"] == [WEB_NEEDS]

    browser = Client()
    browser.login(username=operator.username, password=PASSWORD)
    page = browser.get("/instances/pay-prod/shop/?tab=dependencies").content.decode()
    assert "needs ^1.0.0 — not met" in page


def test_a_rollback_to_a_version_outside_the_range_is_refused_unless_forced(
    api: APIClient, redis: Instance
) -> None:
    assert api.post(f"{URL}/upgrade/?force=1", {"version": "2.0.0"}, format="json").status_code == (
        202
    )
    assert api.post(f"{URL}/rollback/", {"revision": 1}, format="json").status_code == 202
    redis.refresh_from_db()
    assert redis.version == "1.0.0"

    refused = api.post(f"{URL}/rollback/", {"revision": 2}, format="json")
    forced = api.post(f"{URL}/rollback/?force=1", {"revision": 2}, format="json")

    assert refused.status_code == 409
    assert refused.json()["error"] == "breaks_dependents"
    assert refused.json()["dependents"] == [WEB_NEEDS]
    assert forced.status_code == 202
    redis.refresh_from_db()
    assert redis.version == "2.0.0"


def test_uninstalling_a_needed_instance_answers_breaks_dependents(
    api: APIClient, redis: Instance
) -> None:
    refused = api.delete(f"{URL}/")
    assert refused.status_code == 409
    assert refused.json()["error"] == "breaks_dependents"
    assert refused.json()["dependents"] == [WEB_NEEDS]

    assert api.delete(f"{URL}/?force=1").status_code == 202
    redis.refresh_from_db()
    assert redis.status == "uninstalled"


def test_the_upgrade_page_says_what_breaks_before_confirming_and_forces_on_request(
    redis: Instance, operator: Any
) -> None:
    browser = Client()
    browser.login(username=operator.username, password=PASSWORD)
    page_url = "/instances/pay-prod/redis-lite/upgrade/"

    page = browser.get(page_url, {"version": "2.0.0"}).content.decode()
    assert "Breaks what depends on it" in page
    assert "pay-prod/shop" in page and "^1.0.0" in page
    assert (
        "Breaks what depends on it"
        not in browser.get(page_url, {"version": "1.5.0"}).content.decode()
    )

    # What the browser posts: every input of the page as shown, then "Upgrade".
    form = browser_post(page, upgrade="1")
    form.pop("preview", None)
    form.pop("force", None)
    refused = browser.post(page_url, form)
    assert refused.status_code == 409
    redis.refresh_from_db()
    assert redis.version == "1.0.0"
    form["force"] = "1"
    forced = browser.post(page_url, form)
    assert forced.status_code == 302
    redis.refresh_from_db()
    assert redis.version == "2.0.0"
