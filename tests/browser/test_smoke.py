"""The harness itself: Chromium reaches the live server and renders Django pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.support import screenshot

pytestmark = pytest.mark.browser


def test_healthz_and_admin_login_page_render(page: Page) -> None:
    response = page.goto("/healthz")
    assert response is not None
    assert response.status == 200
    assert response.json()["database"]["ok"] is True

    response = page.goto("/admin/login/")
    assert response is not None
    assert response.status == 200
    assert "Log in" in page.title()
    assert page.locator("input[name=username]").is_visible()
    assert page.locator("input[name=password]").is_visible()

    path = screenshot(page, "smoke-admin-login")
    assert path.stat().st_size > 1000
