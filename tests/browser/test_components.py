"""The component docs in a real browser: every page loads without server or script
errors, and the interactive components (tabs, confirm dialog, copy button, table
sorting, search suggestions) work. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from portal.components import component_names
from tests.browser.support import log_in, screenshot
from tests.factories import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The header's search box asks /search/suggest/, which the search area builds later;
# until then the browser itself logs the 404 of that request. The page must still
# show no other error.
IGNORED_CONSOLE_URLS = ("/search/suggest/",)


class ConsoleErrors(list[str]):
    def watch(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.append(f"page error: {error}"))

    def _on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if any(part in url for part in IGNORED_CONSOLE_URLS):
            return
        self.append(f"{message.text} ({url})")


@pytest.fixture
def signed_in(page: Page) -> Iterator[tuple[Page, ConsoleErrors]]:
    """The harness's page, logged in as an ordinary user, and the console errors it
    collects from then on."""
    user = make_user("browser-user")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    errors = ConsoleErrors()
    errors.watch(page)
    log_in(page, user.username, PASSWORD)
    errors.clear()
    yield page, errors


def visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None
    assert response.status < 500, f"{url} answered {response.status}"
    assert response.status == 200, f"{url} answered {response.status}"
    page.wait_for_load_state("networkidle")


def test_every_component_page_loads_cleanly(signed_in):
    page, errors = signed_in
    visit(page, "/docs/components/")
    assert page.locator(".component-list .card").count() == len(component_names())
    screenshot(page, "components-index")
    # htmx is served from static/ and configured for a strict CSP.
    assert page.evaluate("typeof htmx") == "object"
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    assert page.evaluate("htmx.config.allowEval") is False
    for name in component_names():
        visit(page, f"/docs/components/{name}/")
        assert page.locator("[data-example-result]").count() >= 1, name
        assert page.locator("h1").first.inner_text().strip()
        screenshot(page, f"components-{name}")
    assert errors == []


def test_tabs_switch_by_click_keyboard_and_url(signed_in):
    page, errors = signed_in
    url = "/docs/components/tabs/"
    visit(page, url)
    overview = page.locator("#instance-overview")
    values = page.locator("#instance-values")
    assert overview.is_visible() and values.is_hidden()

    page.click("#instance-values-tab")
    assert values.is_visible() and overview.is_hidden()
    assert page.get_attribute("#instance-values-tab", "aria-selected") == "true"
    assert page.evaluate("location.hash") == "#instance-values"

    page.keyboard.press("ArrowRight")
    assert page.locator("#instance-upgrade").is_visible()
    assert page.evaluate("document.activeElement.id") == "instance-upgrade-tab"
    page.keyboard.press("Home")
    assert overview.is_visible()

    # A link to a tab opens it.
    visit(page, url + "?from=link#instance-steps")
    assert page.locator("#instance-steps").is_visible() and overview.is_hidden()
    assert errors == []


def test_confirm_dialog_asks_then_posts_with_csrf(signed_in):
    page, errors = signed_in
    url = "/docs/components/confirm-dialog/"
    visit(page, url)

    dialog = page.locator("dialog").first
    page.click("button:has-text('Uninstall')")
    assert dialog.is_visible()
    confirm = dialog.locator("[data-confirm-submit]")
    assert confirm.is_disabled()
    dialog.locator("[data-confirm-expect]").fill("log-analyzr")
    assert confirm.is_disabled()
    dialog.locator("[data-confirm-expect]").fill("log-analyzer")
    assert confirm.is_enabled()
    # The viewport only: a modal over a full-page capture draws the backdrop oddly.
    screenshot(page, "components-confirm-dialog-open", full_page=False)
    dialog.locator("[data-confirm-cancel]").click()
    assert dialog.is_hidden()

    page.click("button:has-text('Uninstall')")
    page.keyboard.press("Escape")
    assert dialog.is_hidden()

    posted: list[Any] = []

    def answer(route: Any) -> None:
        if route.request.method == "POST":
            posted.append(route.request)
            route.fulfill(status=200, content_type="text/html", body="<p>done</p>")
        else:
            route.continue_()

    page.route(re.compile(r".*/docs/components/confirm-dialog/.*"), answer)
    page.click("button:has-text('Roll back to revision 3')")
    second = page.locator("dialog[open]")
    assert second.locator("h2").inner_text() == "Roll back to revision 3?"
    with page.expect_navigation():
        second.locator("[data-confirm-submit]").click()
    assert len(posted) == 1
    body = posted[0].post_data
    assert "revision=3" in body
    assert re.search(r"csrfmiddlewaretoken=\w+", body)
    assert errors == []


def test_copy_button_copies_the_code(signed_in):
    page, errors = signed_in
    visit(page, "/docs/components/code-block/")
    block = page.locator("[data-example-result] .code-block").first
    button = block.locator("[data-copy-target]")
    button.click()
    page.wait_for_function("el => el.textContent === 'Copied'", arg=button.element_handle())
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("# values.yaml\nreplicas: 2\n")
    assert copied == block.locator("pre").inner_text()
    assert errors == []


def test_diff_copy_leaves_out_line_numbers(signed_in):
    page, errors = signed_in
    visit(page, "/docs/components/diff-block/")
    page.locator("[data-example-result] .diff-block [data-copy-target]").first.click()
    page.wait_for_timeout(200)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.splitlines()[0] == "--- a/ops/log-analyzer/deployment.yaml"
    assert "-          image: registry.local/log-analyzer:1.3.0" in copied.splitlines()
    assert errors == []


def test_table_sorts_in_place(signed_in):
    page, errors = signed_in
    visit(page, "/docs/components/data-table/")
    table = page.locator("table[data-sort-mode=client]").first
    first_app = table.locator("tbody tr:first-child td:first-child")
    table.locator("[data-sort-key=installs]").click()
    assert first_app.inner_text().strip() == "Redis Ops"
    table.locator("[data-sort-key=installs]").click()
    assert first_app.inner_text().strip() == "Node Exporter"
    assert "sort=-installs" in page.url
    assert errors == []


def test_search_suggestions_with_the_keyboard(signed_in):
    page, errors = signed_in
    visit(page, "/docs/components/search-box/")
    box = page.locator("[data-example-result] .search-box__input").first
    box.click()
    box.type("dia")
    options = page.locator("[data-example-result] .search-box__option")
    options.first.wait_for()
    assert "Confirm dialog" in options.first.inner_text()
    box.press("ArrowDown")
    assert options.first.get_attribute("aria-selected") == "true"
    assert box.get_attribute("aria-expanded") == "true"
    box.press("Escape")
    assert page.locator("[data-example-result] .search-box__suggestions").first.is_hidden()
    box.press("ArrowDown")
    options.first.wait_for()
    box.press("ArrowDown")
    with page.expect_navigation():
        box.press("Enter")
    assert page.url.endswith("/docs/components/confirm-dialog/")

    # The header box points at a suggestion endpoint that does not exist yet: it
    # must stay quiet and still submit the search.
    header = page.locator(".site-header .search-box__input")
    header.type("redis")
    page.wait_for_timeout(400)
    assert page.locator(".site-header .search-box__suggestions").is_hidden()
    assert errors == []


def test_not_found_page_in_the_browser(signed_in):
    page, _ = signed_in
    response = page.goto("/no-such-page/")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "This page doesn't exist"
    assert page.locator(".site-header .nav").is_visible()
    screenshot(page, "shell-404")
