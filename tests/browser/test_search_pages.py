"""Site search in a real browser: the results page and the header box's suggestions."""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from playwright.sync_api import Page, expect

from market.services.demo import demo_market_load
from portal.actors import Actor
from tests.browser.support import log_in, screenshot
from tests.browser.test_components import ConsoleErrors
from tests.factories import PASSWORD, make_user
from tests.search.conftest import ES_URL, search_es  # noqa: F401 - the fixture
from tests.search.helpers import index_everything

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("search_es"),
]


def test_results_page_and_header_suggestions(page: Page, settings, tmp_path) -> None:
    settings.MARKETS_DIR = tmp_path / "markets"
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    demo_market_load(actor=Actor.cli())
    index_everything(Elasticsearch(ES_URL))
    user = make_user("searcher")
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, user.username, PASSWORD)
    errors.clear()

    page.goto("/search/?q=promethues+exporter")
    expect(page.locator(".search-hit").first).to_contain_text("Prometheus Exporter Kit")
    expect(page.locator(".search-hit mark").first).to_be_visible()
    expect(page.locator("[data-degraded]")).to_have_count(0)
    screenshot(page, "search-results")

    page.locator(".search-page__tabs a", has_text="App docs").click()
    expect(page.locator(".search-hit").first).to_have_attribute("data-type", "appdoc")

    box = page.locator(".site-header__search .search-box__input")
    box.fill("graf")
    option = page.locator(".site-header__search .search-box__option").first
    expect(option).to_contain_text("Grafana Dashboards for SRE")
    screenshot(page, "search-suggestions", full_page=False)
    box.press("ArrowDown")
    box.press("Enter")
    page.wait_for_url("**/market/demo/grafana-dashboards/")

    assert errors == []
