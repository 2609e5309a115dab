"""The inbox, the bell and the subscription pages in a real browser at laptop and
phone sizes: no script error, nothing wider than the screen, a screenshot of each."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from market.models import Market
from notifications.models import Delivery, DeliveryAttempt
from notifications.services.events import event_advisory, event_operation_failed, event_yanked
from notifications.services.subscriptions import subscription_create
from portal.actors import Actor
from portal.models import Role
from tests.browser.support import log_in, screenshot
from tests.browser.test_components import ConsoleErrors
from tests.factories import PASSWORD, make_namespace, make_team, make_user
from tests.notifications.helpers import deployed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"laptop": (1366, 768), "phone": (390, 844)}


def test_inbox_and_subscription_pages_at_laptop_and_phone_sizes(
    page: Page, settings: object
) -> None:
    from deployments.models import Operation

    user = make_user("nina")
    team = make_team("payments", members={user: Role.ADMIN})
    market = Market.objects.create(name="apps", location="/tmp/none")
    shop = deployed(make_namespace(team, "pay-prod"), market, "web-app", "1.0.0", name="shop")
    subscription_create(
        actor=Actor(user=user), channel="portal", events=["yanked", "advisory", "operation-failed"]
    )
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE_NETWORK = True  # type: ignore[attr-defined]
    hook = subscription_create(
        actor=Actor(user=user),
        channel="webhook",
        events=["yanked"],
        url="http://127.0.0.1:9/hooks/a-rather-long-path/that-goes-on-and-on?team=payments",
    ).subscription
    event_yanked(instance=shop, reason="corrupts the cache on restart")
    event_advisory(
        instance=shop,
        advisory={
            "id": "OMA-2026-0042",
            "severity": "critical",
            "summary": "Remote code execution",
        },
    )
    operation = Operation.objects.create(
        instance=shop,
        kind="upgrade",
        state="failed",
        error="verify: Deployment shop never became ready",
    )
    event_operation_failed(operation=operation)
    delivery = Delivery.objects.get(subscription=hook)
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=1,
        error="connection refused (receiver down)",
        finished_at=delivery.created_at,
    )
    errors = ConsoleErrors()
    errors.watch(page)
    log_in(page, "nina", PASSWORD)

    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.goto("/notifications/")
        bell = page.locator("[data-bell]")
        assert bell.get_attribute("aria-label") == "Notifications, 3 unread"
        assert page.locator("[data-bell-count]").inner_text() == "3"
        assert page.locator(".inbox__item--unread").count() == 3
        screenshot(page, f"notifications-inbox-{size}")
        for name, path in {
            "subscriptions": "/notifications/subscriptions/",
            "new": "/notifications/subscriptions/new/",
            "detail": f"/notifications/subscriptions/{hook.pk}/",
        }.items():
            page.goto(path)
            overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not overflow, f"{name} is wider than the {size} screen"
            screenshot(page, f"notifications-{name}-{size}")

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto("/notifications/")
    page.get_by_role("button", name="Mark all read").click()
    assert page.locator("[data-bell]").get_attribute("aria-label") == "Notifications"
    assert page.locator(".inbox__item--unread").count() == 0
    assert errors == []
