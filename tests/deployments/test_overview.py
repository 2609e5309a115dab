"""The home page's overview and the catalogue's "installed" marks: counts of the
instances a user may see (their teams' namespaces; staff see all) by status and by
health, upgrades available, operations per day of the last 14 days with their
failure rate, and which catalogue apps run where, each in a fixed number of queries."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.models import Instance, Namespace, Operation
from deployments.selectors.overview import instance_overview
from market.models import Market
from portal.models import Role
from tests.factories import make_namespace, make_team, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def add(namespace: Namespace, market: Market, name: str, app: str, version: str, status: str):
    return Instance.objects.create(
        namespace=namespace,
        name=name,
        market=market,
        app_name=app,
        version=version,
        status=status,
    )


def fail(instance: Instance, *, days_ago: float, state: str = "failed") -> Operation:
    when = timezone.now() - timedelta(days=days_ago)
    return Operation.objects.create(
        instance=instance, kind="upgrade", state=state, created_at=when, finished_at=when
    )


@pytest.fixture
def estate(apps_market: Market, namespace: Namespace, operator: Any) -> dict[str, Any]:
    """pay-prod (the operator's team): web-app 1.0.0 (1.2.0 is out), redis-lite 1.0.0
    (latest), a failed and an upgrading one, an uninstalled one; ops-prod (another
    team): instances and failures the operator must never count."""
    market = apps_market
    web = add(namespace, market, "web-app", "web-app", "1.0.0", "deployed")
    redis = add(namespace, market, "redis-lite", "redis-lite", "1.0.0", "deployed")
    broken = add(namespace, market, "web-b", "web-app", "1.1.0", "failed")
    add(namespace, market, "web-c", "web-app", "1.1.0", "upgrading")
    add(namespace, market, "gone", "web-app", "1.0.0", "uninstalled")
    fail(broken, days_ago=0)
    fail(web, days_ago=2, state="rolled_back")
    fail(web, days_ago=3)
    fail(web, days_ago=10)
    fail(web, days_ago=20)  # before the window
    fail(redis, days_ago=0, state="succeeded")
    fail(redis, days_ago=3, state="succeeded")
    fail(redis, days_ago=0, state="running")  # not finished: no part of the rate
    other = make_namespace(make_team("ops"), "ops-prod")
    foreign = add(other, market, "web-app", "web-app", "1.0.0", "failed")
    add(other, market, "redis-lite", "redis-lite", "1.0.0", "deployed")
    fail(foreign, days_ago=0)
    return {"web": web, "other": other}


def test_the_overview_counts_only_the_users_namespaces(estate: dict[str, Any], operator: Any):
    overview = instance_overview(user=operator)

    assert overview.instances == 4  # the uninstalled one is history
    assert {row.status: row.count for row in overview.by_status} == {
        "installing": 0,
        "deployed": 2,
        "upgrading": 1,
        "failed": 1,
        "uninstalling": 0,
    }
    # Deployed ones by health: web-app is healthy on its cluster, redis-lite is a
    # GitOps instance whose health the portal cannot know.
    assert {row.status: row.count for row in overview.by_health} == {
        "healthy": 0,
        "progressing": 0,
        "degraded": 0,
        "unknown": 2,
        "installing": 0,
        "upgrading": 1,
        "uninstalling": 0,
        "failed": 1,
    }
    assert overview.upgrades == 3  # web-app 1.0.0, web-b and web-c at 1.1.0; not redis-lite
    assert (overview.operations, overview.failed, overview.finished) == (7, 4, 6)
    assert overview.failure_rate == 66.7
    assert len(overview.by_day) == 14 and overview.by_day[-1].day == timezone.localdate()
    counts = [(day.count, day.failed) for day in overview.by_day]
    assert counts == [(0, 0)] * 3 + [(1, 1)] + [(0, 0)] * 6 + [(2, 1), (1, 1), (0, 0), (3, 1)]
    assert [day.rate_text for day in overview.by_day][-4:] == ["50%", "100%", "—", "50%"]

    staff = instance_overview(user=make_user("root", staff=True))
    assert staff.instances == 6 and staff.failed == 5 and staff.operations == 8


def test_deployed_instances_on_a_cluster_count_by_their_live_health(
    estate: dict[str, Any], operator: Any, namespace: Namespace
):
    namespace.target = "kubernetes"
    namespace.save(update_fields=["target"])
    Instance.objects.filter(name="web-app", namespace=namespace).update(live_health="healthy")
    Instance.objects.filter(name="redis-lite", namespace=namespace).update(live_health="degraded")
    Instance.objects.filter(name="web-c", namespace=namespace).update(live_health="degraded")

    rows = {row.status: row.count for row in instance_overview(user=operator).by_health}

    # web-c is upgrading: its status counts, not a reading taken mid-upgrade.
    assert (rows["healthy"], rows["degraded"], rows["unknown"], rows["upgrading"]) == (1, 1, 0, 1)


def test_a_user_of_no_team_sees_zeros(estate: dict[str, Any]):
    overview = instance_overview(user=make_user("nobody"))
    assert (overview.instances, overview.upgrades, overview.failed) == (0, 0, 0)


def stat(html: str, name: str) -> int:
    found = re.search(rf'data-stat="{name}"><span class="stat__value">(\d+)<', html)
    assert found, name
    return int(found.group(1))


def test_the_home_page_shows_the_counts_and_the_charts(estate: dict[str, Any], operator: Any):
    html = client_for(operator).get("/").content.decode()

    assert (stat(html, "instances"), stat(html, "upgrades"), stat(html, "failed")) == (4, 3, 4)
    assert 'data-health="unknown" data-count="2"' in html
    assert 'data-health="failed" data-count="1"' in html
    today = timezone.localdate().isoformat()
    assert f'data-day="{today}" data-count="3" data-failed="1"' in html
    assert 'aria-label="Instances by health: healthy 0, progressing 0, degraded 0, unknown 2' in (
        html
    )
    assert "7 operations in the last 14 days, 4 failed: a failure rate of" in html
    assert "<strong>66.7%</strong> of the 6 finished" in html
    # The text fallback: the same numbers in a table.
    assert "<caption" in html and "Operations per day" in html


def test_the_home_page_reads_in_fixed_queries(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    client = client_for(operator)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    add(namespace, apps_market, "one", "web-app", "1.0.0", "deployed")
    before = queries()
    for index in range(8):
        instance = add(namespace, apps_market, f"many-{index}", "web-app", "1.1.0", "failed")
        fail(instance, days_ago=index % 3)

    assert queries() == before


def test_the_catalogue_and_the_app_page_mark_what_the_user_runs(
    estate: dict[str, Any], operator: Any
) -> None:
    client = client_for(operator)

    catalogue = client.get("/market/").content.decode()
    web_card = catalogue[catalogue.index('data-app="web-app"') :]
    web_card = web_card[: web_card.index("</li>")]
    assert 'data-installed="3"' in web_card  # web-app, web-b, web-c; not gone, not ops-prod
    assert '<a href="/instances/pay-prod/web-app/">pay-prod/web-app</a>, version 1.0.0' in web_card
    assert "and 2 more" in web_card
    assert "ops-prod" not in catalogue
    redis_card = catalogue[catalogue.index('data-app="redis-lite"') :]
    assert 'data-installed="1"' in redis_card[: redis_card.index("</li>")]

    page = client.get("/market/apps/web-app/").content.decode()
    notice = page[page.index('class="notice notice--success app-installed"') :]
    notice = re.sub(r"\s+", " ", notice[: notice.index("</div>")])
    assert "pay-prod/web-app</a>, version 1.0.0" in notice
    assert "pay-prod/web-b</a>, version 1.1.0" in notice
    assert "gone" not in notice and "ops-prod" not in notice

    stranger = client_for(make_user("stranger")).get("/market/").content.decode()
    assert "data-installed" not in stranger


def test_the_catalogue_marks_in_one_query_however_many_installations(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    client = client_for(operator)
    make_team("more", members={operator: Role.VIEWER})

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/market/").status_code == 200
        return len(captured)

    add(namespace, apps_market, "one", "web-app", "1.0.0", "deployed")
    before = queries()
    for index in range(6):
        add(namespace, apps_market, f"web-{index}", "web-app", "1.0.0", "deployed")
        add(namespace, apps_market, f"redis-{index}", "redis-lite", "1.0.0", "deployed")

    assert queries() == before
