"""The inbox, the header's bell and the subscription pages in the browser's shoes
(Django's test client): what a user reads and may do on each."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from market.models import Market
from notifications.models import Notification, Subscription
from notifications.services.delivery import delivery_attempt
from notifications.services.events import event_advisory, event_yanked
from notifications.services.subscriptions import subscription_create
from portal.actors import Actor
from portal.models import Role
from tests.factories import make_namespace, make_team, make_user
from tests.notifications.conftest import Receiver
from tests.notifications.helpers import deployed

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db: None) -> Any:
    return make_user("alice")


@pytest.fixture
def shop(alice: Any) -> Any:
    team = make_team("payments", members={alice: Role.ADMIN})
    market = Market.objects.create(name="apps", location="/tmp/none")
    return deployed(make_namespace(team, "pay-prod"), market, "web-app", "1.0.0", name="shop")


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_bell_counts_unread_and_the_inbox_marks_them_read(alice: Any, shop: Any) -> None:
    subscription_create(actor=Actor(user=alice), channel="portal", events=["yanked", "advisory"])
    event_yanked(instance=shop, reason="data loss")
    event_advisory(instance=shop, advisory={"id": "OMA-1", "severity": "high"})
    client = logged_in(alice)

    home = client.get("/").content.decode()
    assert 'aria-label="Notifications, 2 unread"' in home
    inbox = client.get("/notifications/").content.decode()
    assert "pay-prod/shop runs web-app 1.0.0, which was yanked" in inbox
    assert "advisory OMA-1 (high)" in inbox

    yanked = Notification.objects.get(event__kind="yanked")
    opened = client.post(f"/notifications/{yanked.pk}/read/", {"open": "1"})
    assert opened.status_code == 302 and opened["Location"] == "/instances/pay-prod/shop/"
    assert 'aria-label="Notifications, 1 unread"' in client.get("/").content.decode()
    client.post("/notifications/read-all/")
    assert 'aria-label="Notifications"' in client.get("/").content.decode()
    assert "Nothing unread." in client.get("/notifications/?unread=1").content.decode()


def test_someone_elses_notification_cannot_be_marked(alice: Any, shop: Any) -> None:
    subscription_create(actor=Actor(user=alice), channel="portal", events=["yanked"])
    event_yanked(instance=shop, reason="x")
    note = Notification.objects.get()
    other = logged_in(make_user("mallory"))

    assert other.post(f"/notifications/{note.pk}/read/").status_code == 404
    assert "which was yanked" not in other.get("/notifications/").content.decode()
    note.refresh_from_db()
    assert note.read_at is None


def test_webhook_made_on_the_page_shows_its_secret_once_then_its_deliveries(
    alice: Any, shop: Any, receiver: Receiver
) -> None:
    client = logged_in(alice)
    assert client.get("/notifications/subscriptions/new/").status_code == 200

    made = client.post(
        "/notifications/subscriptions/new/",
        {"owner": "__me__", "channel": "webhook", "events": ["yanked"], "url": receiver.url},
    )

    assert made.status_code == 200 and made["Cache-Control"] == "no-store"
    subscription = Subscription.objects.get()
    page = made.content.decode()
    start = page.index("data-webhook-secret")
    assert "X-OpsMarket-Signature" in page
    event_yanked(instance=shop, reason="x")
    delivery_attempt(delivery_id=subscription.deliveries.get().pk)
    (hit,) = receiver.received
    secret_candidates = [
        word
        for word in page[start : start + 3000].replace("<", " ").replace(">", " ").split()
        if hit.signed_with(word)
    ]
    assert len(secret_candidates) >= 1  # the page showed the very secret that signs
    secret = secret_candidates[0]
    detail = client.get(f"/notifications/subscriptions/{subscription.pk}/").content.decode()
    listing = client.get("/notifications/subscriptions/").content.decode()
    assert secret not in detail and secret not in listing
    assert "attempt 1: delivered (204)" in detail


def test_team_admin_subscribes_the_team_and_members_see_it_but_cannot_delete(
    alice: Any, shop: Any
) -> None:
    viewer = make_user("vic")
    shop.namespace.team.memberships.create(user=viewer, role=Role.VIEWER)
    made = logged_in(alice).post(
        "/notifications/subscriptions/new/",
        {"owner": "payments", "channel": "portal", "events": ["operation-failed"]},
    )
    assert made.status_code == 302
    subscription = Subscription.objects.get()
    assert subscription.team == shop.namespace.team

    member = logged_in(viewer)
    assert "team payments" in member.get("/notifications/subscriptions/").content.decode()
    page = member.get(f"/notifications/subscriptions/{subscription.pk}/").content.decode()
    assert "Delete" not in page
    assert member.post(f"/notifications/subscriptions/{subscription.pk}/delete/").status_code == 403
    # A viewer cannot pick the team as owner on the form either.
    refused = member.post(
        "/notifications/subscriptions/new/",
        {"owner": "payments", "channel": "portal", "events": ["yanked"]},
    )
    assert refused.status_code == 400
    outsider = logged_in(make_user("mallory"))
    assert outsider.get(f"/notifications/subscriptions/{subscription.pk}/").status_code == 404
    assert (
        logged_in(alice).post(f"/notifications/subscriptions/{subscription.pk}/delete/").status_code
        == 302
    )
    assert not Subscription.objects.exists()


def test_bad_webhook_url_on_the_form_is_explained(alice: Any) -> None:
    response = logged_in(alice).post(
        "/notifications/subscriptions/new/",
        {"owner": "__me__", "channel": "webhook", "events": ["yanked"], "url": "http://127.0.0.1/"},
    )
    assert response.status_code == 400
    assert "loopback" in response.content.decode()
    assert not Subscription.objects.exists()


def test_pages_need_a_login(db: None) -> None:
    for path in (
        "/notifications/",
        "/notifications/subscriptions/",
        "/notifications/subscriptions/new/",
    ):
        response = Client().get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
