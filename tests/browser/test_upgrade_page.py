"""The upgrade page in Chromium: an upgrade to a new major version shows its release
notes and a warning whose link reaches the upgrade doc; a refused submit focuses the
error summary, whose links reach the fields; the preview sits at the top with its
files, each linking to its diff, long lines wrapped with nothing scrolling sideways on
a phone; the rollback dialog says what the rollback changes, secrets masked.

No worker runs: operations go to a queue nothing consumes and the test runs them
(operation_execute). Screenshots (artifacts/screenshots/upgrade-*.png,
rollback-dialog-*.png) at 1366x768 and 390x844."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from deployments.models import Instance, Namespace, Operation
from deployments.services.instances import instance_install
from deployments.workflow.engine import operation_execute
from market.models import Market
from market.services.demo import demo_market_load
from market.services.sync import market_sync
from portal.actors import Actor
from portal.models import Role
from tests.browser.support import log_in, screenshot
from tests.browser.test_components import ConsoleErrors
from tests.deployments.apps import publish, workflow_market
from tests.deployments.conftest import unconsumed_queue  # noqa: F401 - a fixture
from tests.deployments.test_upgrade_page import CHANGELOG, LONG_VALUE, UPGRADING, web_2
from tests.factories import PASSWORD, make_namespace, make_team, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.usefixtures("unconsumed_queue"),
]

LAPTOP: ViewportSize = {"width": 1366, "height": 768}
PHONE: ViewportSize = {"width": 390, "height": 844}
SECRET = "browser-upgrade-secret-77"
DETAIL = "/instances/pay-prod/web-app/"
UPGRADE = DETAIL + "upgrade/"


def run_queued() -> None:
    """What a worker would do: run every queued operation, oldest first."""
    for operation in Operation.objects.filter(state="queued").order_by("created_at"):
        operation_execute(str(operation.pk))


@pytest.fixture
def operator(
    page: Page, tmp_path: Path, settings: Any
) -> Iterator[tuple[Page, ConsoleErrors, Instance]]:
    """web-app 1.0.0 deployed in pay-prod (with a secret), 2.0.0 in the market, the
    page logged in as an operator of the namespace's team."""
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    settings.GITOPS_DIR = tmp_path / "gitops"
    market: Market = workflow_market(tmp_path)
    publish(
        market,
        tmp_path,
        "web-app",
        "2.0.0",
        web_2(**{"CHANGELOG.md": CHANGELOG, "docs/upgrading.md": UPGRADING}),
    )
    market_sync(market=market)
    user = make_user("olga")
    namespace: Namespace = make_namespace(
        make_team("payments", members={user: Role.OPERATOR}), "pay-prod"
    )
    instance_install(
        actor=Actor(user=user),
        namespace=namespace,
        name="web-app",
        market=market,
        app="web-app",
        version="1.0.0",
        values={"replicas": 3, "apiKey": SECRET},
    )
    run_queued()
    instance = Instance.objects.get(namespace=namespace, name="web-app")
    assert instance.status == "deployed"
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size(LAPTOP)
    log_in(page, user.username, PASSWORD)
    yield page, errors, instance
    assert errors == []


def in_view(page: Page, selector: str) -> bool:
    """Whether the element's top is on screen, below the sticky site header."""
    return bool(
        page.locator(selector).evaluate(
            "node => { const r = node.getBoundingClientRect();"
            " const header = document.querySelector('.site-header').getBoundingClientRect();"
            " return r.top >= header.bottom - 1 && r.top < window.innerHeight; }"
        )
    )


def no_sideways_scroll(page: Page) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def test_a_major_upgrade_shows_notes_and_warning_then_previews_its_files_at_the_top(
    operator: tuple[Page, ConsoleErrors, Instance],
) -> None:
    page, errors, _instance = operator
    page.goto(UPGRADE)

    # The release notes of what changed after 1.0.0, up to 2.0.0; the major warning.
    notes = page.locator("#release-notes")
    expect(notes).to_contain_text("what changed after 1.0.0, up to 2.0.0")
    expect(notes).to_contain_text("The API key Secret is gone")
    expect(notes).to_contain_text("A ConfigMap with the replica count.")
    expect(notes).not_to_contain_text("First release")
    warning = page.locator(".upgrade-major")
    expect(warning).to_contain_text("2.0.0 is a new major version")
    screenshot(page, "upgrade-major-laptop", full_page=False)
    screenshot(page, "upgrade-major-laptop-full")
    warning.get_by_role("link", name="the upgrade notes (docs/upgrading.md)").click()
    assert page.url.endswith("#upgrade-doc")
    expect(page.locator("#upgrade-doc")).to_contain_text("2.0 drops the API key Secret")
    assert in_view(page, "#upgrade-doc")

    # A refused submit: the error summary takes the focus; its link reaches the field.
    page.locator("input[name='values.replicas']").fill("0")
    page.get_by_role("button", name="Upgrade to 2.0.0").last.click()
    page.wait_for_load_state()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Nothing was upgraded: one problem needs fixing")
    screenshot(page, "upgrade-errors-laptop", full_page=False)
    summary.get_by_role("link", name="Replicas must be at least 1.").click()
    expect(page.locator("input[name='values.replicas']")).to_be_focused()
    assert not Operation.objects.filter(kind="upgrade").exists()
    errors[:] = [error for error in errors if "status of 400" not in error]

    # The preview: at the top, its files listed, each linking to its diff.
    page.locator("input[name='values.replicas']").fill("4")
    page.get_by_role("button", name="Preview changes").last.click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Preview: 1.0.0 → 2.0.0")
    expect(preview.locator(".changes__summary")).to_contain_text(
        "3 files change: 1 added, 1 changed, 1 removed; 1 value changes."
    )
    files = preview.locator(".changes__file[data-file]")
    expect(files).to_have_count(3)
    expect(files.nth(0)).to_contain_text("added configmap.yaml +6")
    expect(files.nth(2)).to_contain_text("removed secret.yaml")
    box = preview.bounding_box()
    version = page.locator("#version-title").bounding_box()
    assert box and version and box["y"] < version["y"]
    assert page.url.endswith("#preview") and in_view(page, "#preview-title")
    screenshot(page, "upgrade-preview-laptop", full_page=False)
    screenshot(page, "upgrade-preview-laptop-full")
    preview.get_by_role("link", name="configmap.yaml").click()
    assert page.url.endswith("#preview-file-1") and in_view(page, "#preview-file-1")
    long_line = page.locator("#preview-file-1 .diff-line--add", has_text=LONG_VALUE[:40])
    expect(long_line).to_be_visible()
    # Wrapped: the long line is several lines tall, inside a block as wide as the card.
    line_box = long_line.bounding_box()
    assert line_box and line_box["height"] > 40
    assert SECRET not in page.content()

    page.set_viewport_size(PHONE)
    page.evaluate("window.scrollTo(0, 0)")
    assert no_sideways_scroll(page)
    screenshot(page, "upgrade-preview-phone", full_page=False)
    preview.get_by_role("link", name="configmap.yaml").click()
    assert in_view(page, "#preview-file-1") and no_sideways_scroll(page)
    screenshot(page, "upgrade-preview-phone-diff", full_page=False)
    page.goto(UPGRADE)
    assert no_sideways_scroll(page)
    screenshot(page, "upgrade-major-phone", full_page=False)
    screenshot(page, "upgrade-major-phone-full")


def test_the_rollback_dialog_shows_what_the_rollback_changes(
    operator: tuple[Page, ConsoleErrors, Instance],
) -> None:
    page, _errors, instance = operator
    page.goto(UPGRADE)
    page.locator("input[name='values.replicas']").fill("4")
    page.get_by_role("button", name="Upgrade to 2.0.0").last.click()
    page.wait_for_url(f"**{DETAIL}")
    run_queued()
    assert Instance.objects.get(pk=instance.pk).version == "2.0.0"

    page.goto(DETAIL + "?tab=revisions")
    row = page.locator('[data-revision="1"]')
    row.get_by_role("button", name="Roll back to this").click()
    dialog = row.locator("dialog")
    expect(dialog).to_be_visible()
    changes = dialog.locator(".rollback-changes")
    expect(changes).to_contain_text("Version: 2.0.0 → 1.0.0")
    expect(changes).to_contain_text("3 files change: 1 added, 1 changed, 1 removed")
    expect(changes.locator('[data-file="secret.yaml"]')).to_contain_text("added")
    expect(changes.locator('[data-file="configmap.yaml"]')).to_contain_text("removed")
    expect(changes.locator('[data-value="replicas"]')).to_have_text("replicas: 4 → 3")
    expect(changes.locator('[data-value="apiKey"]')).to_have_count(0)
    assert SECRET not in page.content()
    screenshot(page, "rollback-dialog-laptop", full_page=False)
    page.set_viewport_size(PHONE)
    screenshot(page, "rollback-dialog-phone", full_page=False)
    page.set_viewport_size(LAPTOP)

    dialog.get_by_role("button", name="Roll back", exact=True).click()
    expect(page.locator(".flash--success")).to_contain_text("Rolling pay-prod/web-app back")
    run_queued()
    rolled = Instance.objects.get(pk=instance.pk)
    assert rolled.version == "1.0.0" and rolled.current_revision.number == 3  # type: ignore[union-attr]


def test_on_the_demo_market_redis_ops_2_links_its_upgrade_doc_page(
    page: Page, tmp_path: Path, settings: Any
) -> None:
    settings.MARKETS_DIR = tmp_path / "markets"
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    settings.GITOPS_DIR = tmp_path / "gitops"
    report = demo_market_load(actor=Actor.cli())
    assert report.ok, report.summary()
    user = make_user("ines")
    namespace = make_namespace(make_team("cache", members={user: Role.OPERATOR}), "cache-prod")
    instance_install(
        actor=Actor(user=user),
        namespace=namespace,
        name="redis-ops",
        market=Market.objects.get(name="demo"),
        app="redis-ops",
        version="1.2.0",
    )
    run_queued()
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size(LAPTOP)
    log_in(page, user.username, PASSWORD)

    page.goto("/instances/cache-prod/redis-ops/upgrade/")
    notes = page.locator("#release-notes")
    expect(notes).to_contain_text("what changed after 1.2.0, up to 2.0.0")
    expect(notes).to_contain_text("moved under config")
    expect(notes).not_to_contain_text("First release in the market")
    screenshot(page, "upgrade-demo-redis-ops", full_page=False)
    page.locator(".upgrade-major").get_by_role("link", name="the upgrade notes").click()
    page.wait_for_url("**/market/demo/redis-ops/docs/upgrading-to-2")
    expect(page.locator("h1, h2").first).to_be_visible()
    expect(page.locator(".app-doc")).to_contain_text("Values that moved")
    assert errors == []
