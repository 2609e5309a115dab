"""Chromium enforces the portal's Content-Security-Policy, and the pages still work
under it (tests/browser/test_top_level_pages.py fails on any console error, which
includes every blocked inline script or style)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.support import log_in
from tests.browser.test_components import ConsoleErrors
from tests.factories import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_browser_refuses_injected_inline_script(page: Page) -> None:
    user = make_user("csp-user")
    log_in(page, user.username, PASSWORD)
    errors = ConsoleErrors()
    errors.watch(page)
    page.goto("/")

    # What an injected <script> or on* handler would rely on.
    page.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "window.__injected = true";
            document.body.appendChild(s);
            const img = document.createElement("img");
            img.setAttribute("onerror", "window.__handler = true");
            img.src = "/no-such-image.png";
            document.body.appendChild(img);
        }"""
    )
    page.wait_for_timeout(300)

    assert page.evaluate("() => window.__injected === undefined")
    assert page.evaluate("() => window.__handler === undefined")
    assert any("Content Security Policy" in str(e) for e in errors)
