"""A real Celery worker sends a webhook whose receiver is down at first: it retries
with backoff (Celery's countdown, the count on the delivery) and delivers exactly
once when the receiver is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from market.models import Market
from notifications.models import Delivery, DeliveryAttempt
from notifications.services.events import event_yanked
from notifications.services.subscriptions import subscription_create
from portal.actors import Actor
from portal.models import Role
from tests.deployments.worker import celery_worker, new_queue, wait_for
from tests.factories import make_namespace, make_team, make_user
from tests.notifications.conftest import Receiver
from tests.notifications.helpers import deployed

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.services,
    pytest.mark.slow,
]


@pytest.fixture
def queue(settings: Any) -> Iterator[str]:
    if not str(django_settings.CELERY_BROKER_URL).startswith("redis"):
        pytest.skip("worker tests run on the Redis broker")
    settings.NOTIFY_QUEUE = new_queue()
    yield settings.NOTIFY_QUEUE
    redis.Redis.from_url(str(django_settings.CELERY_BROKER_URL)).delete(settings.NOTIFY_QUEUE)


def test_worker_retries_until_the_receiver_is_back_and_delivers_once(
    queue: str, tmp_path: Path, down_receiver: Receiver
) -> None:
    alice = make_user("alice")
    team = make_team("payments", members={alice: Role.OPERATOR})
    market = Market.objects.create(name="apps", location="/tmp/none")
    shop = deployed(make_namespace(team, "pay-prod"), market, "web-app", "1.0.0", name="shop")
    created = subscription_create(
        actor=Actor(user=alice), channel="webhook", events=["yanked"], url=down_receiver.url
    )
    env = {
        "NOTIFY_QUEUE": queue,
        "NOTIFY_RETRY_BACKOFF_SECONDS": "1",
        "NOTIFY_WEBHOOK_ALLOW_PRIVATE_NETWORK": "1",
    }
    with celery_worker(tmp_path / "data", queue, env=env) as worker:
        event_yanked(instance=shop, reason="corrupts data")  # commits, then queues
        delivery = Delivery.objects.get()
        wait_for(
            lambda: (
                DeliveryAttempt.objects.filter(delivery=delivery, finished_at__isnull=False).count()
                >= 2
            ),
            what="two failed attempts",
            worker=worker,
        )
        down_receiver.start()
        wait_for(
            lambda: Delivery.objects.get(pk=delivery.pk).state == "sent",
            what="the delivery sent",
            timeout=90,
            worker=worker,
        )

    assert len(down_receiver.received) == 1
    assert down_receiver.received[0].signed_with(created.secret)
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert attempts[-1].ok and not any(a.ok for a in attempts[:-1])
    assert len(attempts) >= 3
    assert created.secret not in worker.output()
