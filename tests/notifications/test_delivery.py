"""Events reach webhooks and e-mail exactly once per fact: signed, retried while the
receiver is down, bounded in size, and repaired when their message is lost."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.models import Namespace
from market.models import Market
from notifications.models import Delivery, DeliveryAttempt, Event
from notifications.services.delivery import deliveries_repair, delivery_attempt
from notifications.services.events import event_advisory, event_yanked
from notifications.services.subscriptions import CreatedSubscription, subscription_create
from portal.actors import Actor
from portal.models import AuditEvent, Role
from tests.factories import make_namespace, make_team, make_user
from tests.notifications.conftest import MailServer, Receiver
from tests.notifications.helpers import deployed

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(db: None) -> tuple[Any, Namespace, Market]:
    alice = make_user("alice")
    team = make_team("payments", members={alice: Role.OPERATOR})
    market = Market.objects.create(name="apps", location="/tmp/none")
    return alice, make_namespace(team, "pay-prod"), market


def shop_webhook(
    setup: tuple[Any, Namespace, Market], receiver: Receiver, events: list[str]
) -> tuple[Any, CreatedSubscription]:
    """The "shop" instance and alice's webhook subscription to ``events`` of it."""
    alice, namespace, market = setup
    shop = deployed(namespace, market, "web-app", "1.0.0", name="shop")
    created = subscription_create(
        actor=Actor(user=alice), channel="webhook", events=events, url=receiver.url
    )
    return shop, created


def test_webhook_gets_exactly_one_signed_delivery_per_event(
    setup: Any, receiver: Receiver, eager_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    shop, created = shop_webhook(setup, receiver, ["advisory", "yanked"])
    advisory = {"id": "OMA-1", "severity": "high", "affected": "<1.1.0", "summary": "bad"}

    with django_capture_on_commit_callbacks(execute=True):
        event_advisory(instance=shop, advisory=advisory)
        event_yanked(instance=shop, reason="corrupts data")
    with django_capture_on_commit_callbacks(execute=True):
        # The same facts again, as a second scan would find them: nothing new.
        assert event_advisory(instance=shop, advisory=advisory) is None
        assert event_yanked(instance=shop, reason="corrupts data") is None

    assert len(receiver.received) == 2
    assert all(hit.signed_with(created.secret) for hit in receiver.received)
    assert not receiver.received[0].signed_with("another-secret")
    bodies = {hit.json()["id"]: hit.json() for hit in receiver.received}
    assert set(bodies) == {f"advisory:{shop.pk}:OMA-1", f"yanked:{shop.pk}:1.0.0"}
    advisory_body = bodies[f"advisory:{shop.pk}:OMA-1"]
    assert advisory_body["kind"] == "advisory"
    assert advisory_body["data"]["advisory"]["severity"] == "high"
    assert advisory_body["instance"] == {
        "namespace": "pay-prod",
        "name": "shop",
        "url": "https://portal.example.org/instances/pay-prod/shop/",
    }
    assert receiver.received[0].headers["X-OpsMarket-Event"] in ("advisory", "yanked")
    assert Delivery.objects.filter(state="sent").count() == 2
    assert Event.objects.count() == 2


def test_receiver_that_is_down_gets_the_delivery_once_it_is_back(
    setup: Any, down_receiver: Receiver, settings: Any
) -> None:
    settings.NOTIFY_RETRY_BACKOFF_SECONDS = 30
    shop, created = shop_webhook(setup, down_receiver, ["yanked"])
    # No worker here: this test delivers the messages by hand, as test_retries does.
    event_yanked(instance=shop, reason="corrupts data")
    delivery = Delivery.objects.get()

    countdowns = [delivery_attempt(delivery_id=delivery.pk)]
    # Not due yet: a second message for it (a redelivery) does nothing.
    assert delivery_attempt(delivery_id=delivery.pk) is None
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    countdowns.append(delivery_attempt(delivery_id=delivery.pk))

    assert countdowns == [30, 60]  # exponential backoff
    waiting = Delivery.objects.get(pk=delivery.pk)
    assert (waiting.state, waiting.attempts) == ("pending", 2)
    assert waiting.next_attempt_at > timezone.now()

    down_receiver.start()
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert delivery_attempt(delivery_id=delivery.pk) is None
    assert delivery_attempt(delivery_id=delivery.pk) is None  # sent: a late message does nothing

    assert len(down_receiver.received) == 1
    assert down_receiver.received[0].signed_with(created.secret)
    sent = Delivery.objects.get(pk=delivery.pk)
    assert (sent.state, sent.attempts) == ("sent", 3)
    log = list(DeliveryAttempt.objects.filter(delivery=sent).order_by("number"))
    assert [(a.number, a.ok, a.status_code) for a in log] == [
        (1, False, None),
        (2, False, None),
        (3, True, 204),
    ]
    assert "refused" in log[0].error.lower() or "connect" in log[0].error.lower()


def test_delivery_gives_up_after_its_retries_and_says_why(
    setup: Any, down_receiver: Receiver, settings: Any
) -> None:
    settings.NOTIFY_MAX_RETRIES = 1
    shop, _created = shop_webhook(setup, down_receiver, ["yanked"])
    event_yanked(instance=shop, reason="x")
    delivery = Delivery.objects.get()
    assert delivery_attempt(delivery_id=delivery.pk) is not None
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert delivery_attempt(delivery_id=delivery.pk) is None

    failed = Delivery.objects.get(pk=delivery.pk)
    assert failed.state == "failed"
    assert failed.last_error.startswith("gave up after 2 tries")


def test_receiver_refusing_the_delivery_is_not_retried(setup: Any, receiver: Receiver) -> None:
    receiver.status = 410
    shop, _created = shop_webhook(setup, receiver, ["yanked"])
    event_yanked(instance=shop, reason="x")
    delivery = Delivery.objects.get()

    assert delivery_attempt(delivery_id=delivery.pk) is None
    failed = Delivery.objects.get(pk=delivery.pk)
    assert (failed.state, failed.last_error) == ("failed", "the receiver answered 410")
    assert len(receiver.received) == 1


def test_lost_message_is_sent_by_the_repair_task(
    setup: Any,
    receiver: Receiver,
    settings: Any,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    shop, _created = shop_webhook(setup, receiver, ["yanked"])
    # The event commits, its message is lost (the callbacks are never run).
    with django_capture_on_commit_callbacks(execute=False):
        event_yanked(instance=shop, reason="x")
    delivery = Delivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_repair() == 0  # not overdue yet: its message may still come
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=settings.NOTIFY_REPAIR_GRACE_SECONDS + 1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_repair() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_repair() == 0

    assert Delivery.objects.get(pk=delivery.pk).state == "sent"
    assert len(receiver.received) == 1


def test_email_arrives_once_at_the_smtp_server(
    setup: Any,
    smtp_server: MailServer,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice, namespace, market = setup
    shop = deployed(namespace, market, "web-app", "1.0.0", name="shop")
    subscription_create(actor=Actor(user=alice), channel="email", events=["advisory"])
    advisory = {"id": "OMA-7", "severity": "critical", "summary": "Remote code execution"}

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            event_advisory(instance=shop, advisory=advisory)

    assert len(smtp_server.messages) == 1
    recipients, message = smtp_server.messages[0]
    assert recipients == ["alice@example.org"]
    assert "OMA-7" in message["Subject"]
    text = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "https://portal.example.org/instances/pay-prod/shop/" in text
    assert "Remote code execution" in text
    assert "https://portal.example.org/notifications/subscriptions/" in text


def test_team_email_goes_to_every_member_in_bcc(
    setup: Any,
    smtp_server: MailServer,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _alice, namespace, market = setup
    bob = make_user("bob")
    admin = make_user("ada")
    team = namespace.team
    team.memberships.create(user=bob, role=Role.VIEWER)
    team.memberships.create(user=admin, role=Role.ADMIN)
    outsider = make_user("mallory")
    make_team("other", members={outsider: Role.ADMIN})
    shop = deployed(namespace, market, "web-app", "1.0.0", name="shop")
    subscription_create(actor=Actor(user=admin), channel="email", events=["yanked"], team=team)

    with django_capture_on_commit_callbacks(execute=True):
        event_yanked(instance=shop, reason="x")

    assert len(smtp_server.messages) == 1
    recipients, message = smtp_server.messages[0]
    assert sorted(recipients) == ["ada@example.org", "alice@example.org", "bob@example.org"]
    assert message["To"] is None and message["Bcc"] is None  # nobody sees the others


def test_huge_payloads_from_a_market_are_bounded(
    setup: Any,
    receiver: Receiver,
    settings: Any,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    shop, _created = shop_webhook(setup, receiver, ["advisory"])
    hostile = {
        "id": "X" * 5000,
        "severity": "high",
        "summary": "A" * 5_000_000,
        "references": ["https://example.org/" + "b" * 1000] * 10_000,
        "nested": {"a": {"b": {"c": {"d": {"e": {"f": {"g": "deep"}}}}}}},
    }

    with django_capture_on_commit_callbacks(execute=True):
        event = event_advisory(instance=shop, advisory=hostile)

    assert event is not None and len(event.key) <= 300 and len(event.title) <= 300
    (hit,) = receiver.received
    assert len(hit.body) < settings.NOTIFY_MAX_PAYLOAD_BYTES + 2048
    data = hit.json()["data"]["advisory"]
    assert data["summary"].startswith("AAA") and data["summary"].endswith("…")
    assert len(data["references"]) <= 50


def test_webhook_to_a_private_address_is_refused_at_send_time_without_the_flag(
    setup: Any, receiver: Receiver, settings: Any
) -> None:
    shop, _created = shop_webhook(setup, receiver, ["yanked"])
    # The operator turns the flag off after the subscription was made.
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE_NETWORK = False
    event_yanked(instance=shop, reason="x")
    delivery = Delivery.objects.get()

    assert delivery_attempt(delivery_id=delivery.pk) is None

    failed = Delivery.objects.get(pk=delivery.pk)
    assert failed.state == "failed" and "loopback" in failed.last_error
    assert receiver.received == []


def test_the_secret_is_shown_once_and_never_logged_or_audited(
    setup: Any,
    receiver: Receiver,
    caplog: Any,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice, namespace, market = setup
    shop = deployed(namespace, market, "web-app", "1.0.0", name="shop")
    caplog.set_level(logging.DEBUG)
    created = subscription_create(
        actor=Actor(user=alice), channel="webhook", events=["yanked"], url=receiver.url
    )
    with django_capture_on_commit_callbacks(execute=True):
        event_yanked(instance=shop, reason="x")

    assert len(created.secret) >= 32
    assert created.secret not in caplog.text
    audit = AuditEvent.objects.get(action="subscription.create")
    assert created.secret not in str(audit.detail)
    assert created.subscription.secret_encrypted
    assert created.secret not in created.subscription.secret_encrypted


def test_deliveries_are_queued_only_after_the_event_commits(
    setup: Any, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    shop, _created = shop_webhook(setup, receiver, ["yanked"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event_yanked(instance=shop, reason="x")
        # Inside the transaction: the delivery row exists, nothing was sent.
        assert Delivery.objects.get().state == "pending"

    assert len(callbacks) == 1
    assert receiver.received == []


def _reads_of_one_fan_out(namespace: Namespace, market: Market, name: str) -> int:
    shop = deployed(namespace, market, "web-app", "1.0.0", name=name)
    # The test's transaction never commits: nothing is sent, only the fan-out runs.
    with CaptureQueriesContext(connection) as queries:
        event_yanked(instance=shop, reason="x")
    return sum(1 for query in queries if query["sql"].lstrip().upper().startswith("SELECT"))


def test_an_event_reads_the_same_rows_for_many_subscribers_as_for_one(setup: Any) -> None:
    alice, namespace, market = setup
    team = namespace.team
    subscription_create(actor=Actor(user=alice), channel="portal", events=["yanked"])
    subscription_create(actor=Actor(user=alice), channel="email", events=["yanked"])
    one = _reads_of_one_fan_out(namespace, market, "one")
    for index in range(4):
        member = make_user(f"member{index}")
        team.memberships.create(user=member, role=Role.ADMIN)
        subscription_create(actor=Actor(user=member), channel="portal", events=["yanked"])
        subscription_create(actor=Actor(user=member), channel="email", events=["yanked"], team=team)

    assert _reads_of_one_fan_out(namespace, market, "many") == one
    assert Delivery.objects.filter(event__instance__name="many").count() == 10
