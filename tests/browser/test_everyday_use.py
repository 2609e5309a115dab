"""Everyday use in a real browser (issue 14, items 9 and 11), on the demo market and
the database search backend that `make run` uses: pages that read on a phone
without sideways scrolling, text contrast in the light and the dark theme, the "/"
shortcut, and a misspelled search answered with "did you mean".

Screenshots: artifacts/screenshots/everyday-*.png (1366x768 and 390x844, light and dark).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from market.services.demo import demo_market_load
from portal.actors import Actor
from portal.models import Role, Team
from tests.browser.support import log_in, screenshot
from tests.browser.test_market_pages import ConsoleErrors
from tests.factories import PASSWORD, make_namespace, make_team, make_user
from tests.search.conftest import search_db  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.usefixtures("search_db"),
]

PHONE: ViewportSize = {"width": 390, "height": 844}
LAPTOP: ViewportSize = {"width": 1366, "height": 768}
MAIN_PAGES = [
    "/",
    "/market/",
    "/market/demo/log-analyzer/",
    "/market/demo/log-analyzer/docs/operations",
    "/market/markets/",
    "/instances/",
    "/builds/",
    "/teams/",
    "/teams/platform-sre/",
    "/accounts/profile/",
    "/search/?q=promethues",
    "/docs/",
    "/docs/guide/publishing/",
    "/docs/components/data-table/",
]

# Contrast of an element's text against what is painted behind it (WCAG 2 formula):
# backgrounds of the ancestors composited from the page's up, the text's alpha on top.
CONTRAST_JS = """
(element) => {
  const parse = (text) => {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(parseFloat);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, base) => ({
    r: top.r * top.a + base.r * (1 - top.a),
    g: top.g * top.a + base.g * (1 - top.a),
    b: top.b * top.a + base.b * (1 - top.a),
    a: 1,
  });
  const layers = [];
  for (let node = element; node; node = node.parentElement) {
    const colour = parse(getComputedStyle(node).backgroundColor);
    if (colour.a > 0) layers.push(colour);
    if (colour.a >= 1) break;
  }
  let behind = { r: 255, g: 255, b: 255, a: 1 };
  for (let i = layers.length - 1; i >= 0; i--) behind = over(layers[i], behind);
  const text = over(parse(getComputedStyle(element).color), behind);
  const lum = (c) => {
    const f = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const [hi, lo] = [lum(text), lum(behind)].sort((a, b) => b - a);
  return (hi + 0.05) / (lo + 0.05);
}
"""


@pytest.fixture
def member(page: Page, settings: Any, tmp_path: Any) -> Iterator[tuple[Page, ConsoleErrors]]:
    """The demo market, an operator of platform-sre with a namespace, logged in."""
    settings.MARKETS_DIR = tmp_path / "markets"
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    report = demo_market_load(actor=Actor.cli())
    assert report.ok, report.summary()
    user = make_user("dana")
    Team.objects.get(name="platform-sre").memberships.create(user=user, role=Role.OPERATOR)
    make_namespace(make_team("other-team", members={user: Role.VIEWER}), "observability")
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size(LAPTOP)
    log_in(page, user.username, PASSWORD)
    yield page, errors
    assert errors == []


# What sticks out past the window's right edge: the deepest such elements, to say why.
WIDEST_JS = """
() => {
  const edge = document.documentElement.clientWidth + 1;
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return true;
    }
    return false;
  };
  return Array.from(document.querySelectorAll("body *"))
    .filter((el) => el.getBoundingClientRect().right > edge && !clipped(el))
    .filter((el) => !Array.from(el.children).some((c) => c.getBoundingClientRect().right > edge))
    .slice(0, 3)
    .map((el) => el.tagName.toLowerCase() + "." + Array.from(el.classList).join("."));
}
"""


def horizontal_overflow(page: Page) -> int:
    """Pixels the page is wider than the window (0: nothing scrolls sideways)."""
    return int(
        page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


def test_main_pages_do_not_scroll_sideways_on_a_phone(member) -> None:
    page, _errors = member
    page.set_viewport_size(PHONE)
    wide: dict[str, Any] = {}
    for path in MAIN_PAGES:
        page.goto(path)
        overflow = horizontal_overflow(page)
        if overflow > 0:
            wide[path] = (overflow, page.evaluate(WIDEST_JS))
    # Every tab of the app page, tables included (stacked as cards).
    page.goto("/market/demo/log-analyzer/")
    for tab in ("Versions", "Dependencies", "Values", "Docs", "Markets"):
        page.get_by_role("tab", name=tab).click()
        overflow = horizontal_overflow(page)
        if overflow > 0:
            wide[f"app page, {tab}"] = overflow
        if tab == "Values":
            expect(page.locator("#app-values .code-block").first).to_contain_text("maxBodyBytes")
            screenshot(page, "everyday-phone-app-values", full_page=False)
        if tab == "Versions":
            cell = page.locator('#app-versions td[data-label="Published"]').first
            expect(cell).to_be_visible()
            screenshot(page, "everyday-phone-app-versions")

    assert wide == {}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_body_and_meta_text_contrast_at_least_4_5(member, scheme: str) -> None:
    page, _errors = member
    page.emulate_media(color_scheme=scheme)
    ratios = {}
    page.goto("/search/?q=prometheus")
    expect(page.locator(".search-hit__meta").first).to_be_visible()
    for selector in (
        ".search-hit__meta",
        ".search-hit__snippet",
        ".search-results__count",
        ".page-header__subtitle",
        ".search-facets__count",
        ".site-footer",
    ):
        ratios[selector] = page.locator(selector).first.evaluate(CONTRAST_JS)
    page.goto("/market/demo/log-analyzer/")
    for selector in (".app-header__summary", ".facts dt", ".muted", "body", ".chip"):
        found = page.locator(selector).first
        if found.count():
            ratios[selector] = found.evaluate(CONTRAST_JS)
    screenshot(page, f"everyday-{scheme}-app-page", full_page=False)
    page.goto("/docs/guide/publishing/")
    ratios[".docs__nav a"] = page.locator(".docs__nav a").first.evaluate(CONTRAST_JS)
    screenshot(page, f"everyday-{scheme}-guide", full_page=False)
    page.set_viewport_size(PHONE)
    page.goto("/search/?q=promethues")
    screenshot(page, f"everyday-{scheme}-phone-search")

    low = {selector: round(ratio, 2) for selector, ratio in ratios.items() if ratio < 4.5}
    assert len(ratios) >= 8 and low == {}


def test_slash_focuses_the_search_box_but_not_while_typing(member) -> None:
    page, _errors = member
    page.goto("/market/")
    header_box = page.locator("input[data-search-shortcut]")

    page.keyboard.press("/")
    expect(header_box).to_be_focused()
    expect(header_box).to_have_value("")  # the "/" is a shortcut, not text

    catalogue_filter = page.locator(".catalogue-filters input[name=q]")
    catalogue_filter.click()
    page.keyboard.type("a/b")
    expect(catalogue_filter).to_be_focused()
    expect(catalogue_filter).to_have_value("a/b")


def test_a_misspelled_search_finds_prometheus_with_did_you_mean(member) -> None:
    page, _errors = member
    page.goto("/market/")
    box = page.locator("input[data-search-shortcut]")
    box.fill("promethues")
    option = page.locator(".site-header__search .search-box__option").first
    expect(option).to_contain_text("Prometheus Exporter Kit")
    screenshot(page, "everyday-suggest-typo", full_page=False)

    box.press("Enter")
    page.wait_for_url("**/search/?q=promethues")
    expect(page.locator("[data-did-you-mean]")).to_contain_text("Did you mean prometheus?")
    expect(page.locator(".search-hit").first).to_contain_text("Prometheus Exporter Kit")
    expect(page.locator("[data-degraded]")).to_have_count(0)
    snippets = page.locator(".search-hit__snippet").all_inner_texts()
    assert snippets
    assert not any("**" in s or "](" in s or s.lstrip().startswith("#") for s in snippets)
    screenshot(page, "everyday-did-you-mean", full_page=False)
