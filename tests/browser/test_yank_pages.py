"""Yanking and advisories in a real browser: a publisher yanks a version through the
app page's dialog, and the instance page flags an instance running it, on a laptop
and on a phone. Screenshots: artifacts/screenshots/yank-*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from deployments.models import Instance
from market.services.yank import advisory_add
from portal.actors import Actor
from portal.models import Role
from tests.browser.support import log_in, screenshot
from tests.factories import PASSWORD, make_namespace, make_team, make_user
from tests.market.api_helpers import publish_small
from tests.market.helpers import local_market

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES: dict[str, ViewportSize] = {
    "1366": {"width": 1366, "height": 768},
    "390": {"width": 390, "height": 844},
}


def test_a_publisher_yanks_through_the_dialog_and_the_instance_is_flagged(
    page: Page, tmp_path: Path, settings: Any
) -> None:
    settings.PACKAGE_CACHE_DIR = tmp_path / "cache"
    market = local_market(tmp_path, "main")
    publish_small(market, "app-a", "1.0.0", title="Disk Pressure Runbook")
    publish_small(market, "app-a", "1.1.0", title="Disk Pressure Runbook")
    user = make_user("pub")
    team = make_team("ops", members={user: Role.OPERATOR})
    market.publishers.add(team)
    Instance.objects.create(
        namespace=make_namespace(team, "prod"),
        name="runbook",
        market=market,
        app_name="app-a",
        version="1.0.0",
        status="deployed",
    )
    advisory_add(
        actor=Actor.system(),
        market=market,
        app="app-a",
        advisory={
            "id": "OMSA-2026-001",
            "severity": "high",
            "affected": "<1.1.0",
            "fixed": "1.1.0",
            "summary": "Runs cleanup on the wrong volume.",
        },
    )
    page.set_viewport_size(SIZES["1366"])
    log_in(page, user.username, PASSWORD)

    page.goto("/market/main/app-a/?version=1.0.0")
    page.locator('[data-version="1.0.0"]').get_by_role("button", name="Yank").click()
    page.locator("dialog[open] textarea[name=reason]").fill("Deletes the wrong files.")
    page.locator("dialog[open]").get_by_role("button", name="Yank 1.0.0").click()
    expect(page.locator(".flash--success")).to_contain_text("app-a 1.0.0 is yanked")
    expect(page.locator("[data-version-notice]")).to_contain_text("Deletes the wrong files.")
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        screenshot(page, f"yank-app-page-{size}", full_page=True)

    page.set_viewport_size(SIZES["1366"])
    page.goto("/instances/prod/runbook/")
    expect(page.locator("[data-version-notice]")).to_contain_text("is yanked")
    expect(page.locator('[data-version-notice] [data-advisory="OMSA-2026-001"]')).to_have_count(1)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        screenshot(page, f"yank-instance-page-{size}", full_page=True)
    page.goto("/instances/")
    expect(page.locator('[data-instance="prod/runbook"] [data-flag="yanked"]')).to_have_count(1)
    screenshot(page, "yank-instance-list-390", full_page=True)
