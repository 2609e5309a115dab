"""Charts in a real browser: the Metrics tab of an instance with stored samples draws
its chart (a canvas, a legend naming the metric, a table of the same series), the
target health table, and the home overview's charts, at laptop and phone sizes.

Screenshots: artifacts/screenshots/metrics-tab.png, metrics-tab-phone.png,
home-charts.png, home-charts-phone.png, metrics-tab-dark.png."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect

from deployments.models import Operation
from portal.models import Role
from telemetry.models import ScrapeTarget
from telemetry.samples import InstanceRef, Sample
from telemetry.storage.database import DatabaseMetricsStore
from tests.browser.support import log_in, screenshot
from tests.browser.test_components import ConsoleErrors
from tests.browser.test_operation_progress import no_horizontal_scroll
from tests.factories import PASSWORD, make_team, make_user
from tests.telemetry.conftest import cluster_row, deployed, kube_namespace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP: ViewportSize = {"width": 1366, "height": 768}
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def web(settings: Any) -> Any:
    """pay-prod/web on a cluster: two pods scraped for the last half hour (a request
    counter and a temperature gauge), one of them down since; a day of operations."""
    settings.ELASTICSEARCH_URL = ""
    operator = make_user("olga")
    team = make_team("payments", members={operator: Role.OPERATOR})
    web = deployed(kube_namespace(team, cluster_row(), "pay-prod"))
    web.live_health = "healthy"
    web.save(update_fields=["live_health"])
    for pod, address, health, error in (
        ("web-0", "10.1.2.3:9100", "up", ""),
        ("web-1", "10.1.2.4:9100", "down", "no complete answer within 10s"),
    ):
        ScrapeTarget.objects.create(
            instance=web,
            pod=pod,
            address=address,
            url=f"http://{address}/metrics",
            found_by="pod",
            health=health,
            last_scrape=timezone.now(),
            last_error=error,
            names=["requests", "temperature"] if health == "up" else [],
        )
    now = time.time()
    samples = []
    for i in range(60):
        at = now - 1800 + 30 * i
        for pod, speed in (("web-0", 3.0), ("web-1", 1.0)):
            labels = {"pod": pod, "code": "200"}
            samples.append(Sample("requests_total", speed * 30 * i, at, "counter", labels))
            samples.append(Sample("temperature", 40 + (i % 10) + speed, at, "gauge", {"pod": pod}))
    DatabaseMetricsStore().samples_store(
        instance_id=web.pk,
        instance=InstanceRef("pay-prod", "web", "webapp", "1.2.0"),
        samples=samples,
    )
    for days_ago, state in ((0, "succeeded"), (0, "failed"), (1, "succeeded"), (3, "rolled_back")):
        when = timezone.now() - timedelta(days=days_ago)
        Operation.objects.create(
            instance=web, kind="upgrade", state=state, created_at=when, finished_at=when
        )
    return operator


def test_the_metrics_tab_draws_the_chart_and_the_home_overview_its_charts(
    page: Page, web: Any
) -> None:
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size(LAPTOP)
    log_in(page, web.username, PASSWORD)

    page.goto("/instances/pay-prod/web/")
    tab_list = page.get_by_role("tablist", name="Instance details")
    # All seven tabs fit at laptop width: the list does not scroll sideways.
    sizes = tab_list.evaluate("list => [list.scrollWidth, list.clientWidth]")
    assert sizes[0] <= sizes[1], sizes
    page.get_by_role("tab", name="Metrics").click()
    metrics = page.locator("#metrics-view[data-metrics]")
    # The counter is drawn as its rate: 3 and 1 requests a second.
    expect(metrics.locator("[data-metrics-status]")).to_have_text(
        "requests per second over the last 1 h: 2 series."
    )
    canvas = metrics.locator(".metrics__chart canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 200
    legend = metrics.locator(".u-legend")
    expect(legend).to_contain_text('requests_total{pod="web-0"}')
    expect(legend).to_contain_text('requests_total{pod="web-1"}')
    # The table: the same series as text, "Last" the rate now.
    metrics.get_by_text("Show as a table").click()
    rows = metrics.locator("[data-metrics-table] tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.locator("td").nth(2)).to_have_text("3/s")
    # The targets: one up, one down and why.
    targets = metrics.locator("table", has_text="10.1.2.3:9100")
    expect(targets.locator('[data-state="up"]')).to_have_count(1)
    expect(targets.locator('[data-state="down"]')).to_have_count(1)
    expect(targets).to_contain_text("no complete answer within 10s")
    screenshot(page, "metrics-tab", full_page=False)

    # A gauge over 15 minutes: its values, no rate to choose.
    page.get_by_label("Metric", exact=True).select_option("temperature")
    page.get_by_label("Window", exact=True).select_option("900")
    expect(metrics.locator("[data-metrics-status]")).to_have_text(
        "temperature over the last 15 min: 2 series."
    )
    expect(legend).to_contain_text('temperature{pod="web-0"}')
    expect(metrics.locator("[data-metrics-rate]")).to_be_hidden()

    page.set_viewport_size(PHONE)
    page.get_by_label("Metric", exact=True).select_option("requests")
    expect(metrics.locator("[data-metrics-status]")).to_contain_text("requests per second")
    canvas_box = canvas.bounding_box()
    assert canvas_box is not None and 250 < canvas_box["width"] <= PHONE["width"]
    no_horizontal_scroll(page)
    page.get_by_label("Window", exact=True).scroll_into_view_if_needed()
    screenshot(page, "metrics-tab-phone", full_page=False)

    page.set_viewport_size(LAPTOP)
    page.goto("/")
    health = page.locator("#chart-health")
    expect(health.locator('[data-health="healthy"]')).to_have_attribute("data-count", "1")
    days = page.locator("#chart-operations .overview-chart__day")
    expect(days).to_have_count(14)
    expect(days.last).to_have_attribute("data-count", "2")
    expect(days.last).to_have_attribute("data-failed", "1")
    expect(page.locator("#operations-summary")).to_contain_text(
        "4 operations in the last 14 days, 2 failed: a failure rate of 50% of the 4 finished."
    )
    screenshot(page, "home-charts", full_page=False)
    page.set_viewport_size(PHONE)
    no_horizontal_scroll(page)
    screenshot(page, "home-charts-phone")

    # The dark theme: the lines take the lighter set of colours.
    page.set_viewport_size(LAPTOP)
    page.emulate_media(color_scheme="dark")
    page.goto("/instances/pay-prod/web/?tab=metrics")
    expect(metrics.locator("[data-metrics-status]")).to_contain_text("requests per second")
    first_line = page.evaluate(
        "getComputedStyle(document.querySelector('.metrics')).getPropertyValue('--chart-1')"
    )
    assert first_line.strip() == "#8ea8ff"
    screenshot(page, "metrics-tab-dark", full_page=False)
    assert errors == []
