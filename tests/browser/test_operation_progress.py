"""An operation followed live in Chromium: the instance page's badges say what runs
("Installing", "Rolling back"; never "Queued" once steps run, never "Upgrading" during
a rollback), the progress bar and elapsed time move, the dependency install sits
nested under the install that caused it, the step chart draws every step.

A step is held in a controlled way: the test wraps the engine's render step so that
it waits on an event, and runs the operation in a thread (what a worker process
does) while the page polls. Screenshots: artifacts/screenshots/progress-*.png."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import Page, expect

from deployments.models import Instance, Operation
from deployments.services.instances import instance_install, instance_rollback, instance_upgrade
from deployments.workflow.engine import operation_execute
from deployments.workflow.steps import STEP_FUNCTIONS, Run
from market.models import Market
from portal.actors import Actor
from portal.models import Role
from tests.browser.support import log_in, screenshot
from tests.browser.test_components import ConsoleErrors
from tests.deployments.apps import workflow_market
from tests.deployments.conftest import unconsumed_queue  # noqa: F401 - a fixture
from tests.factories import PASSWORD, make_namespace, make_team, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.usefixtures("unconsumed_queue"),
]

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
LIVE = 15_000  # ms: a few polls of the page (every 2 s)


class StepGate:
    """Holds the render step of chosen instances until the test lets it go."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.render: Callable[[Run], str] = STEP_FUNCTIONS["render"]
        self.entered: dict[str, threading.Event] = {}
        self.released: dict[str, threading.Event] = {}
        monkeypatch.setitem(STEP_FUNCTIONS, "render", self._render)

    def hold(self, instance: str) -> None:
        self.entered[instance] = threading.Event()
        self.released[instance] = threading.Event()

    def wait_until_held(self, instance: str) -> None:
        assert self.entered[instance].wait(30), f"render of {instance} never started"

    def release(self, instance: str) -> None:
        self.released[instance].set()

    def release_all(self) -> None:
        for event in self.released.values():
            event.set()

    def _render(self, run: Run) -> str:
        name = run.instance.name
        if name in self.entered:
            self.entered[name].set()
            assert self.released[name].wait(60), f"render of {name} never released"
        return self.render(run)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[StepGate]:
    held = StepGate(monkeypatch)
    yield held
    held.release_all()  # a failed test must not leave a worker thread waiting


def run_in_worker(operation: Operation) -> threading.Thread:
    """What a worker does with the operation's message, in a thread of this process."""

    def work() -> None:
        try:
            operation_execute(str(operation.pk))
        finally:
            connections.close_all()

    thread = threading.Thread(target=work, name=f"worker-{operation.pk}", daemon=True)
    thread.start()
    return thread


@pytest.fixture
def market(tmp_path: Path, settings: Any) -> Market:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    settings.GITOPS_DIR = tmp_path / "gitops"
    return workflow_market(tmp_path)


def no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def test_the_badge_progress_and_nested_dependency_follow_the_operation_live(
    page: Page, market: Market, gate: StepGate
) -> None:
    operator = make_user("olga")
    team = make_team("payments", members={operator: Role.OPERATOR})
    namespace = make_namespace(team, "pay-prod")
    actor = Actor(user=operator)
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
    log_in(page, operator.username, PASSWORD)

    requested = instance_install(
        actor=actor,
        namespace=namespace,
        name="web-app",
        market=market,
        app="web-app",
        version="1.0.0",
        values={"replicas": 2},
    )
    page.goto("/instances/pay-prod/web-app/")
    status = page.locator("#instance-status .status-badge")
    card = page.locator("#operation-live")
    title = card.locator("#operation-title .status-badge")
    expect(status).to_have_text("Install queued")
    expect(title).to_have_text("Queued")
    expect(card.locator(".operation-progress__count").first).to_contain_text("0 of 7 steps")
    expect(card.locator('[data-dependency="redis-lite"]')).to_contain_text("Queued")

    # The dependency runs first (inside the install's resolve step); hold its render.
    gate.hold("redis-lite")
    gate.hold("web-app")
    worker = run_in_worker(requested.operation)
    gate.wait_until_held("redis-lite")
    nested = card.locator('[data-dependency="redis-lite"]')
    expect(nested.locator(".status-badge")).to_have_text("Installing", timeout=LIVE)
    expect(title).to_have_text("Installing")
    expect(status).to_have_text("Installing")
    expect(nested.locator(".operation-progress")).to_have_attribute("data-done", "3")
    expect(nested).to_contain_text("3 of 7 steps · render")
    screenshot(page, "progress-dependency-running", full_page=False)

    # The dependency done, the install itself holds at render: 3 of 7, render running.
    gate.release("redis-lite")
    gate.wait_until_held("web-app")
    expect(nested.locator(".status-badge")).to_have_text("Succeeded", timeout=LIVE)
    progress = card.locator(".operation-progress").first
    expect(progress).to_have_attribute("data-done", "3", timeout=LIVE)
    expect(progress.locator("progress")).to_have_attribute("value", "3")
    expect(progress.locator("progress")).to_have_attribute("max", "7")
    expect(progress).to_contain_text("render")
    expect(title).to_have_text("Installing")
    expect(status).to_have_text("Installing")
    elapsed = progress.locator(".operation-progress__time")
    first = elapsed.inner_text()
    expect(elapsed).not_to_have_text(first, timeout=LIVE)  # the clock moves with each poll
    expect(card.locator('.step-chart__row[data-step="render"]')).to_have_attribute(
        "data-state", "running"
    )
    screenshot(page, "progress-install-running", full_page=False)
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    no_horizontal_scroll(page)
    screenshot(page, "progress-install-running-phone")
    page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]

    # Done: the page reloads itself once, and shows the outcome.
    gate.release("web-app")
    worker.join(30)
    expect(page.locator("#instance-status .status-badge")).to_have_text("Deployed", timeout=LIVE)
    card = page.locator("#operation-live")
    expect(card.locator("#operation-title .status-badge")).to_have_text("Succeeded")
    expect(card.locator(".operation-progress").first).to_contain_text("7 of 7 steps")
    expect(card.locator(".step-chart__row")).to_have_count(7)
    expect(card).not_to_have_attribute("hx-trigger", "every 2s")
    screenshot(page, "progress-install-done", full_page=False)

    # A second revision, then a rollback held at render: it reads "Rolling back".
    instance = Instance.objects.get(pk=requested.instance.pk)
    upgrade = instance_upgrade(actor=actor, instance=instance, version="1.1.0")
    operation_execute(str(upgrade.operation.pk))
    instance.refresh_from_db()
    rollback = instance_rollback(actor=actor, instance=instance, revision=1)
    gate.hold("web-app")
    page.goto("/instances/pay-prod/web-app/")
    expect(page.locator("#instance-status .status-badge")).to_have_text("Rollback queued")
    worker = run_in_worker(rollback.operation)
    gate.wait_until_held("web-app")
    status = page.locator("#instance-status .status-badge")
    title = page.locator("#operation-title .status-badge")
    expect(status).to_have_text("Rolling back", timeout=LIVE)
    expect(status).to_have_attribute("data-state", "upgrading")  # the API's word stays
    expect(title).to_have_text("Rolling back")
    expect(page.locator("#operation-live .operation-progress").first).to_contain_text(
        "1 of 5 steps · render"
    )
    screenshot(page, "progress-rollback-running", full_page=False)
    gate.release("web-app")
    worker.join(30)
    expect(page.locator("#instance-status .status-badge")).to_have_text("Deployed", timeout=LIVE)
    expect(page.locator("#operation-title .status-badge")).to_have_text("Succeeded")
    assert Instance.objects.get(pk=instance.pk).current_revision.number == 3  # type: ignore[union-attr]
    assert errors == []


def test_home_counts_and_charts_and_the_catalogue_marks_what_you_run(
    page: Page, market: Market
) -> None:
    operator = make_user("olga")
    team = make_team("payments", members={operator: Role.OPERATOR})
    namespace = make_namespace(team, "pay-prod")
    actor = Actor(user=operator)
    # web-app 1.0.0 with its dependency, deployed: an upgrade (1.2.0) is out.
    install = instance_install(
        actor=actor,
        namespace=namespace,
        name="web-app",
        market=market,
        app="web-app",
        version="1.0.0",
        values={"replicas": 2},
    )
    operation_execute(str(install.operation.pk))
    # An upgrade to 1.2.0 that verify refuses: rolled back, a failed operation today.
    web = Instance.objects.get(pk=install.instance.pk)
    operation_execute(
        str(instance_upgrade(actor=actor, instance=web, version="1.2.0").operation.pk)
    )
    # Another team's instance: never counted for olga.
    other = make_namespace(make_team("ops"), "ops-prod")
    theirs = instance_install(
        actor=Actor(user=make_user("root", staff=True)),
        namespace=other,
        name="cache",
        market=market,
        app="redis-lite",
        version="1.0.0",
    )
    operation_execute(str(theirs.operation.pk))
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
    log_in(page, operator.username, PASSWORD)

    page.goto("/")
    stats = page.locator(".overview__stats")
    expect(stats.locator('[data-stat="instances"] .stat__value')).to_have_text("2")
    expect(stats.locator('[data-stat="upgrades"] .stat__value')).to_have_text("1")
    expect(stats.locator('[data-stat="failed"] .stat__value')).to_have_text("1")
    chart = page.locator("#chart-health")
    expect(chart).to_be_visible()
    # GitOps instances: deployed, their health not known to the portal.
    expect(chart.locator('[data-health="unknown"]')).to_have_attribute("data-count", "2")
    expect(chart.locator('[data-health="failed"]')).to_have_attribute("data-count", "0")
    bar = chart.locator('[data-health="unknown"] rect').bounding_box()
    assert bar is not None and bar["width"] > 50  # drawn, not an empty frame
    days = page.locator("#chart-operations .overview-chart__day")
    expect(days).to_have_count(14)
    # Today: the install of web-app, its dependency's and the refused upgrade.
    expect(days.last).to_have_attribute("data-failed", "1")
    expect(days.last.locator(".overview-chart__column--failed")).to_be_visible()
    expect(page.locator("#operations-summary")).to_contain_text("1 failed: a failure rate of")
    screenshot(page, "home-overview", full_page=False)
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    no_horizontal_scroll(page)
    screenshot(page, "home-overview-phone")

    page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
    page.goto("/market/")
    card = page.locator('[data-app="web-app"]')
    expect(card.locator(".app-card__installed")).to_contain_text(
        "Installed in pay-prod/web-app, version 1.0.0"
    )
    expect(page.locator('[data-app="redis-lite"] .app-card__installed')).to_contain_text(
        "pay-prod/redis-lite"
    )
    expect(page.locator(".app-card__installed", has_text="ops-prod")).to_have_count(0)
    screenshot(page, "catalogue-installed", full_page=False)
    card.locator(".app-card__installed a").click()
    page.wait_for_url("**/instances/pay-prod/web-app/")
    page.goto("/market/apps/web-app/")
    expect(page.locator(".app-installed")).to_contain_text(
        "Installed in pay-prod/web-app, version 1.0.0"
    )
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    no_horizontal_scroll(page)
    screenshot(page, "app-installed-phone", full_page=False)
    assert errors == []
