"""The instance pages in a real browser: install web-app from the app page's Install
button, watch the step timeline poll while the operation is queued and then run,
land on the deployed instance, and preview an upgrade.

No worker runs here: the operations are sent to a queue of this test's own that
nothing consumes, and the test runs them itself (operation_execute, what a worker
calls) while the page polls. Screenshots, at 1366x768: artifacts/screenshots/
install-form.png, instance-detail.png, upgrade-preview.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from deployments.models import Instance, Operation
from deployments.workflow.engine import operation_execute
from market.models import Market
from portal.models import Role
from tests.browser.support import log_in, screenshot
from tests.browser.test_components import ConsoleErrors
from tests.deployments.apps import workflow_market
from tests.deployments.conftest import unconsumed_queue  # noqa: F401 - a fixture
from tests.factories import PASSWORD, make_team, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]

SECRET = "browser-secret-api-key"
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
def market(tmp_path: Path, settings: Any) -> Market:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    settings.GITOPS_DIR = tmp_path / "gitops"
    return workflow_market(tmp_path)


@pytest.mark.usefixtures("unconsumed_queue")
def test_install_from_the_form_watch_the_steps_and_preview_an_upgrade(
    page: Page, market: Market
) -> None:
    operator = make_user("olga")
    make_team("payments", members={operator: Role.OPERATOR})
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
    log_in(page, operator.username, PASSWORD)

    # The app page's Install button opens the form for that version.
    page.goto("/market/apps/web-app/")
    page.get_by_role("link", name="Install", exact=True).click()
    page.wait_for_url("**/instances/new/?market=apps&app=web-app&version=1.2.0")

    # No namespace yet: created inline, then back on the form.
    expect(page.get_by_role("button", name="Install web-app 1.2.0")).to_be_disabled()
    screenshot(page, "install-form-no-namespace", full_page=False)
    inline = page.locator("form").filter(has_text="Create namespace")
    inline.locator("input[name=name]").fill("pay-prod")
    inline.get_by_role("button", name="Create namespace").click()
    expect(page.locator(".flash--success")).to_contain_text("Namespace pay-prod created.")
    assert page.url.endswith("/instances/new/?market=apps&app=web-app&version=1.2.0")
    expect(page.locator("select[name=namespace]")).to_have_value("pay-prod")
    expect(page.locator("input[name=name]")).to_have_value("web-app")

    # Another version: its own editor.
    page.select_option("select[name=version]", "1.1.0")
    page.get_by_role("button", name="Load version").click()
    install = page.get_by_role("button", name="Install web-app 1.1.0")
    expect(install).to_be_visible()
    page.fill("input[name='values.replicas']", "3")
    page.fill("input[name='values.apiKey']", SECRET)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "install-form", full_page=False)
    screenshot(page, "install-form-full")
    install.click()

    # The instance page: queued, polling.
    page.wait_for_url("**/instances/pay-prod/web-app/")
    expect(page.locator(".flash--success")).to_contain_text("Installing web-app 1.1.0")
    timeline = page.locator("#operation-steps")
    live = page.locator("#operation-live")
    expect(timeline.locator(".step-timeline__step")).to_have_count(7)
    expect(live).to_have_attribute("hx-trigger", "every 2s")

    # What a worker would do; the polling page reloads once the operation has finished.
    for operation in Operation.objects.filter(instance__namespace__name="pay-prod").order_by(
        "created_at"
    ):
        operation_execute(str(operation.pk))
    summary = page.locator(".instance-summary")
    expect(summary.locator('.status-badge[data-state="deployed"]')).to_be_visible(timeout=15_000)
    expect(timeline.locator('.step-timeline__step[data-state="succeeded"]')).to_have_count(7)
    expect(live).not_to_have_attribute("hx-trigger", "every 2s")
    expect(page.locator(".instance-summary")).to_contain_text("upgrade available: 1.2.0")
    expect(page.locator("#instance-values")).to_contain_text("apiKey: '********'")
    assert SECRET not in page.content()
    screenshot(page, "instance-detail", full_page=False)
    screenshot(page, "instance-detail-full")
    page.goto("/instances/")
    expect(page.locator('[data-instance="pay-prod/web-app"]')).to_contain_text("Deployed")
    screenshot(page, "instance-list", full_page=False)
    page.goto("/instances/pay-prod/web-app/")

    # The tabs: resources, revisions, dependencies.
    page.get_by_role("tab", name="Resources").click()
    expect(page.locator('[data-resource="Deployment/web-app"]')).to_be_visible()
    page.get_by_role("tab", name="Revisions").click()
    expect(page.locator('[data-revision="1"]')).to_contain_text("current")
    page.get_by_role("tab", name="Dependencies").click()
    expect(
        page.get_by_role("tabpanel", name="Dependencies").get_by_role("link", name="redis-lite")
    ).to_be_visible()

    # Upgrade: preview the dry run, nothing changes.
    page.get_by_role("link", name="Upgrade", exact=True).click()
    page.wait_for_url("**/instances/pay-prod/web-app/upgrade/")
    page.fill("input[name='values.replicas']", "5")
    page.get_by_role("button", name="Preview changes").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Preview: 1.1.0 → 1.2.0")
    expect(preview.locator(".diff-line--add").first).to_be_visible()
    expect(page.locator("input[name='values.replicas']")).to_have_value("5")
    assert page.url.endswith("#preview")  # the browser lands on the preview
    screenshot(page, "upgrade-preview", full_page=False)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "upgrade-preview-full")
    assert not Operation.objects.filter(kind="upgrade").exists()
    assert Instance.objects.get(name="web-app").version == "1.1.0"

    # Upgrade to 1.2.0, which verify refuses: rolled back, the reason on the page.
    # The preview has its own "Upgrade" button, beside its list of files.
    page.locator("#preview").get_by_role("button", name="Upgrade to 1.2.0").click()
    page.wait_for_url("**/instances/pay-prod/web-app/")
    upgrade = Operation.objects.get(kind="upgrade")
    operation_execute(str(upgrade.pk))
    title = page.locator("#operation-title")
    expect(title.locator('.status-badge[data-state="rolled_back"]')).to_be_visible(timeout=15_000)
    expect(page.locator(".instance-message")).to_contain_text("upgrade failed at verify")
    expect(summary.locator('.status-badge[data-state="deployed"]')).to_be_visible()
    screenshot(page, "instance-failed-upgrade", full_page=False)

    # Reconfigure (same version, new values), then compare and roll back.
    page.get_by_role("link", name="Upgrade", exact=True).click()
    page.select_option("select[name=version]", "1.1.0")
    page.get_by_role("button", name="Load version").click()
    page.fill("input[name='values.replicas']", "4")
    page.get_by_role("button", name="Upgrade to 1.1.0").click()
    page.wait_for_url("**/instances/pay-prod/web-app/")
    operation_execute(str(Operation.objects.get(kind="upgrade", state="queued").pk))
    expect(summary).to_contain_text("Revision2", timeout=15_000)
    page.get_by_role("tab", name="Revisions").click()
    page.get_by_role("link", name="Diff with r1").click()
    page.wait_for_url("**/instances/pay-prod/web-app/diff/?from=1&to=2")
    expect(page.locator(".diff-line--add").first).to_contain_text("+replicas: 4")
    screenshot(page, "instance-diff", full_page=False)
    page.go_back()
    page.get_by_role("tab", name="Revisions").click()
    revision_1 = page.locator('[data-revision="1"]')
    screenshot(page, "instance-revisions", full_page=False)
    revision_1.get_by_role("button", name="Roll back to this").click()
    rollback_dialog = revision_1.locator("dialog")
    expect(rollback_dialog).to_contain_text("Roll back to revision 1?")
    screenshot(page, "instance-rollback-dialog", full_page=False)
    rollback_dialog.get_by_role("button", name="Roll back").click()
    expect(page.locator(".flash--success")).to_contain_text("Rolling pay-prod/web-app back")
    operation_execute(str(Operation.objects.get(kind="rollback").pk))
    expect(summary).to_contain_text("Revision3", timeout=15_000)
    assert Instance.objects.get(name="web-app").current_revision.values_masked["replicas"] == 3  # type: ignore[union-attr]

    # Uninstalling a dependency that web-app still needs offers "force".
    page.get_by_role("tab", name="Dependencies").click()
    page.get_by_role("tabpanel", name="Dependencies").get_by_role("link", name="redis-lite").click()
    page.wait_for_url("**/instances/pay-prod/redis-lite/")
    page.get_by_role("button", name="Uninstall").click()
    dialog = page.locator("dialog#uninstall-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Still needed by pay-prod/web-app (web-app needs ^1.0.0)")
    confirm = dialog.get_by_role("button", name="Uninstall")
    expect(confirm).to_be_disabled()
    dialog.locator("input[data-confirm-expect]").fill("redis-lite")
    screenshot(page, "instance-uninstall-dialog", full_page=False)
    confirm.click()  # without force: refused, the reason in a flash message
    expect(page.locator(".flash--error")).to_contain_text("would break pay-prod/web-app")
    assert Instance.objects.get(name="redis-lite").status == "deployed"

    # Forced: queued, and the page polls until it has run.
    page.get_by_role("button", name="Uninstall").click()
    dialog.get_by_label("Force: uninstall although others need it").check()
    dialog.locator("input[data-confirm-expect]").fill("redis-lite")
    confirm.click()
    expect(page.locator(".flash--success")).to_contain_text("Uninstalling pay-prod/redis-lite")
    uninstall = Operation.objects.get(kind="uninstall")
    assert uninstall.params["force"] is True
    operation_execute(str(uninstall.pk))
    expect(summary.locator('.status-badge[data-state="uninstalled"]')).to_be_visible(timeout=15_000)
    expect(page.get_by_role("link", name="Install again")).to_be_visible()
    assert errors == []
