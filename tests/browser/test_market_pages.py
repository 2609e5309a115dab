"""The market pages in a real browser, on the demo market: catalogue, filters, app
page and its tabs, a docs page, and publishing through the upload form.

Screenshots go to artifacts/screenshots/market-*.png, at the two laptop sizes the
pages must read well on (1366x768 and 1440x900)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from market.models import App
from market.services.demo import demo_market_load
from portal.actors import Actor
from portal.models import Membership, Role, Team
from tests.browser.support import log_in, screenshot
from tests.factories import PASSWORD, make_user
from tests.market.archives import manifest_text, package_archive

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]

LAPTOPS: dict[str, ViewportSize] = {
    "1366": {"width": 1366, "height": 768},
    "1440": {"width": 1440, "height": 900},
}
IGNORED_CONSOLE_URLS = ("/search/suggest/",)  # the search area builds it later


class ConsoleErrors(list[str]):
    def watch(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.append(f"page error: {error}"))

    def _on_console(self, message: Any) -> None:
        url = (message.location or {}).get("url", "")
        if message.type == "error" and not any(part in url for part in IGNORED_CONSOLE_URLS):
            self.append(f"{message.text} ({url})")


@pytest.fixture
def operator(page: Page, settings: Any, tmp_path: Any) -> Iterator[tuple[Page, ConsoleErrors]]:
    """The demo market loaded, and the page logged in as an operator of platform-sre,
    the team that publishes into it."""
    settings.MARKETS_DIR = tmp_path / "markets"
    report = demo_market_load(actor=Actor.cli())
    assert report.ok, report.summary()
    user = make_user("opal")
    Membership.objects.create(
        team=Team.objects.get(name="platform-sre"), user=user, role=Role.OPERATOR
    )
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size(LAPTOPS["1366"])
    log_in(page, user.username, PASSWORD)
    yield page, errors
    assert errors == []


def shots(page: Page, name: str) -> None:
    """A screenshot at each laptop size, then back to the first."""
    for size, viewport in LAPTOPS.items():
        page.set_viewport_size(viewport)
        screenshot(page, f"market-{name}-{size}", full_page=False)
    page.set_viewport_size(LAPTOPS["1366"])


def icons_loaded(page: Page) -> bool:
    return bool(
        page.evaluate(
            "Array.from(document.querySelectorAll('img.app-icon'))"
            ".every(img => img.complete && img.naturalWidth > 0)"
        )
    )


def test_browse_the_demo_market_and_publish_through_the_form(operator) -> None:
    page, errors = operator
    demo_apps = App.objects.filter(market__name="demo").count()

    # The catalogue: every demo app, with icons.
    page.goto("/market/")
    cards = page.locator("li.app-card")
    expect(cards).to_have_count(demo_apps)
    page.wait_for_load_state("networkidle")
    assert icons_loaded(page)
    expect(page.locator('.nav__link.is-active[href="/market/"]')).to_have_text("Market")
    shots(page, "catalogue")
    screenshot(page, "market-catalogue-full")

    # Filter by category.
    page.select_option("select[name=category]", "observability")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"category=observability"))
    observability = App.objects.filter(market__name="demo", category="observability")
    expect(cards).to_have_count(observability.count())
    expect(page.locator(".catalogue-bar__count")).to_contain_text("in Observability")
    screenshot(page, "market-catalogue-filtered-1366", full_page=False)

    # Sort by last update keeps the filter.
    page.get_by_role("link", name="Last update").click()
    page.wait_for_url(re.compile(r"category=observability.*sort=updated|sort=updated.*category"))
    expect(cards).to_have_count(observability.count())

    # An app page, through its card.
    page.locator('li.app-card[data-app="log-analyzer"] .app-card__link').click()
    page.wait_for_url("**/market/demo/log-analyzer/")
    expect(page.locator("h1.page-header__title")).to_have_text("Log Analyzer")
    readme = page.locator("#app-readme")
    expect(readme).to_be_visible()
    expect(readme.locator("h2").first).to_be_visible()
    expect(page.get_by_role("link", name="Install", exact=True)).to_have_attribute(
        "href",
        "/instances/new/?market=demo&app=log-analyzer&version="
        + App.objects.get(market__name="demo", name="log-analyzer").latest,
    )
    assert icons_loaded(page)
    shots(page, "app-readme")

    # The tabs: versions, dependencies, docs, markets.
    page.get_by_role("tab", name=re.compile(r"^Versions")).click()
    expect(page.locator("#app-versions")).to_be_visible()
    expect(readme).to_be_hidden()
    assert page.url.endswith("#app-versions")
    expect(page.locator("#app-versions tbody tr")).to_have_count(2)
    screenshot(page, "market-app-versions-1366", full_page=False)

    page.get_by_role("tab", name=re.compile(r"^Dependencies")).click()
    dependencies = page.locator("#app-dependencies")
    expect(dependencies.locator('a[href="/market/demo/redis-ops/"]')).to_be_visible()
    screenshot(page, "market-app-dependencies-1366", full_page=False)

    page.get_by_role("tab", name=re.compile(r"^Markets")).click()
    expect(page.locator('#app-markets tr[data-offer="demo"]')).to_be_visible()

    page.get_by_role("tab", name=re.compile(r"^Docs")).click()
    docs = page.locator("#app-docs a.list__primary")
    expect(docs.first).to_be_visible()

    # A docs page.
    title = docs.first.inner_text()
    docs.first.click()
    page.wait_for_url(re.compile(r"/market/demo/log-analyzer/docs/"))
    expect(page.locator("h1.page-header__title")).to_have_text(title)
    expect(page.locator(".docs__nav a[aria-current=page]")).to_have_text(title)
    expect(page.locator("article.app-doc")).to_be_visible()
    shots(page, "app-doc")

    # Publishing: a refusal, then a conflict, then a new app.
    page.goto("/market/publish/")
    expect(page.locator("select[name=market]")).to_have_value("demo")
    page.set_input_files(
        "input[name=archive]",
        files=[{"name": "junk-1.0.0.tgz", "mimeType": "application/gzip", "buffer": b"junk"}],
    )
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#id_archive_error")).to_contain_text("Refused:")
    screenshot(page, "market-publish-refused-1366", full_page=False)

    page.set_input_files(
        "input[name=archive]",
        files=[
            {
                "name": "log-analyzer-1.4.2.tgz",
                "mimeType": "application/gzip",
                "buffer": package_archive(),
            }
        ],
    )
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".notice--danger")).to_contain_text("Version conflict.")
    expect(page.locator("#id_archive_error")).to_contain_text("already published")
    screenshot(page, "market-publish-conflict-1366", full_page=False)
    # The browser logs the 400 and 409 answers of the form; nothing else may be there.
    assert len(errors) == 2 and all("/market/publish/" in error for error in errors), errors
    errors.clear()

    janitor = package_archive(
        root="disk-janitor",
        manifest=manifest_text(
            name="disk-janitor",
            version="0.1.0",
            title="Disk Janitor",
            summary="Frees node disk space before the kubelet starts evicting pods.",
            category="reliability",
            dependencies=[],
        ),
        files={"README.md": "# Disk Janitor\n\nCleans `/var/log` and unused images.\n"},
    )
    page.set_input_files(
        "input[name=archive]",
        files=[
            {"name": "disk-janitor-0.1.0.tgz", "mimeType": "application/gzip", "buffer": janitor}
        ],
    )
    page.get_by_role("button", name="Publish").click()
    page.wait_for_url("**/market/demo/disk-janitor/")
    expect(page.locator(".flash--success")).to_contain_text("Published disk-janitor 0.1.0 to demo.")
    expect(page.locator("#app-readme")).to_contain_text("Cleans /var/log and unused images.")
    shots(page, "publish-success")

    page.goto("/market/?q=janitor")
    expect(cards).to_have_count(1)

    # The markets page, as a non-staff user: no locations, no sync buttons.
    page.goto("/market/markets/")
    expect(page.locator('tr[data-market="demo"]')).to_be_visible()
    expect(page.get_by_role("button", name="Sync now")).to_have_count(0)
    screenshot(page, "market-markets-1366", full_page=False)


def test_staff_pages_for_markets(page: Page, settings: Any, tmp_path: Any) -> None:
    settings.MARKETS_DIR = tmp_path / "markets"
    demo_market_load(actor=Actor.cli(), sources=_one_source(tmp_path))
    staff = make_user("root", staff=True)
    page.set_viewport_size(LAPTOPS["1366"])
    log_in(page, staff.username, PASSWORD)

    page.goto("/market/markets/")
    expect(page.locator('tr[data-market="demo"] .market-cell__location')).to_contain_text(
        str(tmp_path / "markets" / "demo")
    )
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator(".flash--success")).to_contain_text("Sync of demo queued")
    screenshot(page, "market-markets-staff-1366", full_page=False)

    page.goto("/market/markets/new/")
    page.fill("input[name=name]", "broken")
    page.fill("input[name=location]", "ftp://example.org/market")
    page.fill("input[name=secret_access_key]", "do-not-echo-me")
    page.fill("input[name=access_key_id]", "AKIAEXAMPLE")
    page.get_by_role("button", name="Add market").click()
    # The service's one-line reason, next to the location.
    expect(page.locator("#id_location_error li")).to_have_count(1)
    expect(page.locator("input[name=secret_access_key]")).to_have_value("")
    shots(page, "add-refused")


def _one_source(tmp_path: Any) -> Any:
    import shutil

    from market.services.demo import DEMO_SOURCES

    root = tmp_path / "sources"
    shutil.copytree(DEMO_SOURCES / "redis-ops" / "2.0.0", root / "redis-ops" / "2.0.0")
    return root
