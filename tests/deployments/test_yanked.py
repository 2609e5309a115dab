"""Installing and running yanked versions and versions with advisories (SPEC 14):
refused unless the exact version is forced (API and forms), flagged in the
instance API, on the instance page and in the list."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from deployments.models import Instance, InstanceStatus, Namespace, Operation
from market.models import App, Market
from market.services.yank import advisory_add, version_yank
from portal.actors import Actor
from portal.models import AuditEvent
from tests.deployments.test_values_form import browser_post
from tests.deployments.test_web import client_for, form_html, text
from tests.factories import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("gitops_repo")]

URL = "/api/v1/namespaces/pay-prod/instances/"
REASON = "Drops writes when redis restarts."
ADVISORY = {
    "id": "OMSA-2026-007",
    "severity": "critical",
    "affected": "<1.1.0",
    "fixed": "1.1.0",
    "summary": "The API key is logged in clear.",
}


def api_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def yank(market: Market, version: str, reason: str = REASON) -> None:
    version_yank(actor=Actor.system(), market=market, app="web-app", version=version, reason=reason)


def install(api: APIClient, version: str | None, query: str = "", **extra: Any) -> Any:
    body = {"name": "shop", "market": "apps", "app": "web-app", **extra}
    if version:
        body["version"] = version
    return api.post(URL + query, body, format="json")


@pytest.mark.usefixtures("eager_tasks")
def test_installing_a_yanked_version_is_refused_unless_forced(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    yank(apps_market, "1.1.0")
    api = api_for(operator)

    refused = install(api, "1.1.0")
    assert refused.status_code == 409
    body = refused.json()
    assert (body["error"], body["version"], body["reason"]) == ("yanked", "1.1.0", REASON)
    assert REASON in body["detail"]
    assert Instance.objects.count() == 0 and Operation.objects.count() == 0

    forced = install(api, "1.1.0", "?force=1")
    assert forced.status_code == 202, forced.json()
    assert forced.json()["instance"]["version"] == "1.1.0"
    assert forced.json()["instance"]["yanked"] == REASON
    event = AuditEvent.objects.get(action="instance.install")
    assert event.detail["yanked"] == REASON


@pytest.mark.usefixtures("eager_tasks")
def test_without_a_version_the_install_takes_the_newest_not_yanked(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    yank(apps_market, "1.2.0")

    response = install(api_for(operator), None)

    assert response.status_code == 202, response.json()
    assert response.json()["instance"]["version"] == "1.1.0"
    assert App.objects.get(market=apps_market, name="web-app").latest == "1.1.0"


@pytest.mark.usefixtures("eager_tasks")
def test_a_yanked_dependency_is_never_chosen_for_a_range(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    version_yank(
        actor=Actor.system(), market=apps_market, app="redis-lite", version="1.0.0", reason="r"
    )

    response = install(api_for(operator), "1.0.0")

    assert response.status_code == 400
    assert "no subscribed market offers redis-lite ^1.0.0" in response.json()["detail"]
    assert Instance.objects.count() == 0


@pytest.mark.usefixtures("eager_tasks")
def test_upgrading_to_a_yanked_version_is_refused_unless_forced_but_reconfiguring_is_not(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    api = api_for(operator)
    assert install(api, "1.0.0").status_code == 202
    yank(apps_market, "1.0.0", "Old.")
    yank(apps_market, "1.1.0")

    refused = api.post(URL + "shop/upgrade/", {"version": "1.1.0"}, format="json")
    dry_run = api.post(URL + "shop/upgrade/?dry_run=1", {"version": "1.1.0"}, format="json")
    reconfigured = api.post(
        URL + "shop/upgrade/", {"version": "1.0.0", "values": {"replicas": 4}}, format="json"
    )
    forced = api.post(URL + "shop/upgrade/?force=1", {"version": "1.1.0"}, format="json")

    assert refused.status_code == 409 and refused.json()["error"] == "yanked"
    assert dry_run.status_code == 200, dry_run.json()  # a dry run changes nothing
    assert reconfigured.status_code == 202, reconfigured.json()
    assert forced.status_code == 202, forced.json()
    assert Instance.objects.get(name="shop").version == "1.1.0"
    upgrades = AuditEvent.objects.filter(action="instance.upgrade").order_by("pk")
    assert [e.detail.get("yanked", "") for e in upgrades] == ["Old.", REASON]


def _flagged_instance(market: Market, namespace: Namespace, name: str, version: str) -> Instance:
    return Instance.objects.create(
        namespace=namespace,
        name=name,
        market=market,
        app_name="web-app",
        version=version,
        status=InstanceStatus.DEPLOYED,
    )


def test_the_instance_api_list_page_and_list_page_show_the_flags(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    old = _flagged_instance(apps_market, namespace, "old-shop", "1.0.0")
    _flagged_instance(apps_market, namespace, "new-shop", "1.2.0")
    yank(apps_market, "1.0.0")
    advisory_add(actor=Actor.system(), market=apps_market, app="web-app", advisory=ADVISORY)
    api = api_for(operator)

    detail = api.get(URL + "old-shop/").json()
    clean = api.get(URL + "new-shop/").json()
    listed = {i["name"]: i for i in api.get("/api/v1/instances/").json()["results"]}
    page = text(client_for(operator).get("/instances/pay-prod/old-shop/"))
    clean_page = text(client_for(operator).get("/instances/pay-prod/new-shop/"))
    listing = text(client_for(operator).get("/instances/"))

    assert detail["yanked"] == REASON
    assert detail["advisories"] == [ADVISORY]
    assert (clean["yanked"], clean["advisories"]) == (None, [])
    assert listed["old-shop"]["yanked"] == REASON
    assert [a["id"] for a in listed["old-shop"]["advisories"]] == ["OMSA-2026-007"]
    assert listed["new-shop"]["advisories"] == []
    assert f"web-app 1.0.0 is yanked by its publisher: {REASON}" in re.sub(r"<[^>]+>", "", page)
    assert "The API key is logged in clear." in page and "fixed in 1.1.0" in page
    assert "data-version-notice" not in clean_page
    row = listing[listing.index('data-instance="pay-prod/old-shop"') :]
    row = row[: row.index("</tr>")]
    assert 'data-flag="yanked"' in row and 'data-advisory="OMSA-2026-007"' in row
    clean_row = listing[listing.index('data-instance="pay-prod/new-shop"') :]
    assert 'data-flag="' not in clean_row[: clean_row.index("</tr>")]
    assert old.pk  # the row the flags are about exists; nothing was written to it
    assert Instance.objects.get(pk=old.pk).version == "1.0.0"


def test_the_list_reads_flags_without_a_query_per_instance(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    yank(apps_market, "1.0.0")
    advisory_add(actor=Actor.system(), market=apps_market, app="web-app", advisory=ADVISORY)
    _flagged_instance(apps_market, namespace, "a1", "1.0.0")
    api = api_for(operator)
    with CaptureQueriesContext(connection) as one:
        assert api.get("/api/v1/instances/").status_code == 200
    for n in range(2, 7):
        _flagged_instance(apps_market, namespace, f"a{n}", "1.0.0")
    with CaptureQueriesContext(connection) as six:
        body = api.get("/api/v1/instances/").json()

    assert [i["yanked"] for i in body["results"]] == [REASON] * 6
    assert len(six.captured_queries) == len(one.captured_queries)


def test_another_teams_instance_flags_stay_hidden(
    apps_market: Market, namespace: Namespace
) -> None:
    _flagged_instance(apps_market, namespace, "old-shop", "1.0.0")
    yank(apps_market, "1.0.0")
    outsider = make_user("outsider")

    assert api_for(outsider).get(URL + "old-shop/").status_code == 404
    assert api_for(outsider).get("/api/v1/instances/").json()["count"] == 0


@pytest.mark.usefixtures("eager_tasks")
def test_the_install_form_says_a_version_is_yanked_and_installs_it_only_when_forced(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    yank(apps_market, "1.1.0")
    client = client_for(operator)
    page = client.get("/instances/new/?market=apps&app=web-app&version=1.1.0")
    html = text(page)
    assert "web-app 1.1.0 is yanked" in html and REASON in html
    assert 'name="allow_yanked"' in html
    form = form_html(page.content.decode(), "/instances/new/")

    refused = client.post(
        "/instances/new/", browser_post(form, values__apiKey="k", name="shop", allow_yanked=None)
    )
    assert refused.status_code == 400, text(refused)[:500]
    assert "is yanked" in text(refused)
    assert Instance.objects.count() == 0

    forced = client.post(
        "/instances/new/", browser_post(form, values__apiKey="k", name="shop", allow_yanked="1")
    )
    assert forced.status_code == 302, text(forced)[:2000]
    assert Instance.objects.get(name="shop").version == "1.1.0"
