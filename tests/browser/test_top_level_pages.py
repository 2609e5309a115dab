"""Every top-level page in a real browser, as staff: no server error, no script
error, and a screenshot of each for people to look at."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.support import log_in, screenshot
from tests.browser.test_components import ConsoleErrors
from tests.factories import PASSWORD, make_namespace, make_team, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOP_LEVEL_PAGES = {
    "home": "/",
    "market": "/market/",
    "markets": "/market/markets/",
    "publish": "/market/publish/",
    "instances": "/instances/",
    "builds": "/builds/",
    "teams": "/teams/",
    "team": "/teams/platform/",
    "docs": "/docs/components/",
    "api-docs": "/api/docs/",
    "audit": "/audit/",
    "clusters": "/clusters/",
    "cluster-new": "/clusters/new/",
    "profile": "/accounts/profile/",
    "admin": "/admin/",
}


def test_every_top_level_page_answers_without_errors(page: Page) -> None:
    staff = make_user("browser-admin", staff=True)
    team = make_team("platform", members={staff: "admin"})
    make_namespace(team, "sre-tools")
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, staff.username, PASSWORD)
    errors.clear()

    for name, url in TOP_LEVEL_PAGES.items():
        response = page.goto(url)
        assert response is not None
        assert response.status == 200, f"{url} answered {response.status}"
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").first.is_visible(), f"{url} has no visible heading"
        screenshot(page, f"page-{name}")

    assert errors == []
