"""Helpers for browser tests: log in through the real form, keep screenshots."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
LOGIN_PATH = "/accounts/login/"


def screenshot_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of the page as artifacts/screenshots/<name>.png and return its path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{screenshot_name(name)}.png"
    page.screenshot(path=path, full_page=full_page)
    return path


def log_in(page: Page, username: str, password: str) -> None:
    """Log in through the login form (fields `username`, `password`, a submit button)
    and wait until the browser has left the login page. Fails with the page's text
    when the portal shows the form again (a wrong password, a rate limit)."""
    page.goto(LOGIN_PATH)
    form = page.locator("form").filter(has=page.locator("input[name=password]"))
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit], input[type=submit]").first.click()
    try:
        page.wait_for_url(lambda url: LOGIN_PATH not in url)
    except Exception as exc:  # Playwright's TimeoutError; say what the page said
        body = page.locator("body").inner_text()[:500]
        raise AssertionError(f"log in as {username!r} failed; the page says: {body}") from exc
