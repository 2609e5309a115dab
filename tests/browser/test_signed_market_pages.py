"""A signed market in a real browser: staff pin its root.json through the add form,
and the app page says who signed the market, on a laptop and on a phone.

Screenshots: artifacts/screenshots/signed-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from market.models import Market, SigningKey
from market.services.markets import market_add, market_init
from market.services.sync import market_sync
from portal.actors import Actor
from tests.browser.support import log_in, screenshot
from tests.factories import PASSWORD, make_team, make_user
from tests.market.api_helpers import publish_small
from tests.market.storage_fixtures import MarketHTTPServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES: dict[str, ViewportSize] = {
    "1366": {"width": 1366, "height": 768},
    "390": {"width": 390, "height": 844},
}


@pytest.fixture
def served(tmp_path: Path, settings: Any) -> Iterator[MarketHTTPServer]:
    settings.PACKAGE_CACHE_DIR = tmp_path / "cache"
    root = tmp_path / "served"
    team = make_team("platform-sre")
    market_init(location=str(root), name="origin", sign_team=team)
    origin = market_add(actor=Actor.system(), name="origin", location=str(root), writable=True)
    publish_small(origin, "app-a", "1.0.0", title="Disk Pressure Runbook")
    server = MarketHTTPServer(root).start()
    yield server
    server.stop()


def test_staff_pin_a_root_and_the_app_page_names_the_signer(
    page: Page, served: MarketHTTPServer, tmp_path: Path
) -> None:
    staff = make_user("root", staff=True)
    page.set_viewport_size(SIZES["1366"])
    log_in(page, staff.username, PASSWORD)

    page.goto("/market/markets/new/")
    page.fill("input[name=name]", "signed")
    page.fill("input[name=location]", served.url)
    page.check("input[name=allow_private_network]")
    page.set_input_files("input[name=trust_root]", str(served.root / "root.json"))
    screenshot(page, "signed-add-form-1366", full_page=True)
    page.get_by_role("button", name="Add market").click()
    expect(page.locator(".flash--success")).to_contain_text("Market signed added")
    signed = Market.objects.get(name="signed")
    assert signed.trust_root is not None
    market_sync(market=signed)
    market_sync(market=Market.objects.get(name="origin"))

    page.goto("/market/signed/app-a/")
    key = SigningKey.objects.get().keyid[:8]
    chip = page.locator('.facts [data-signature="verified"]')
    expect(chip).to_have_text(f"Signed by platform-sre key {key}")
    expect(page.locator(".facts .signature-detail")).to_contain_text(
        "Verified against the pinned root.json (version 1)"
    )
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        screenshot(page, f"signed-app-page-{size}", full_page=True)
    page.set_viewport_size(SIZES["1366"])
    page.get_by_role("tab", name="Markets").click()
    expect(page.locator('[data-offer="origin"] [data-signature="unverified"]')).to_have_count(1)
    screenshot(page, "signed-app-markets-tab-1366", full_page=False)
