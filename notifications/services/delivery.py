"""Sending one delivery (an e-mail or a webhook POST) and the repair of lost ones.

Invariants:
- An attempt is claimed by a compare-and-set from ``pending`` (and due) to
  ``sending``: two messages for one delivery never send it at once, and a message
  for a delivery already sent does nothing.
- Every attempt writes a ``DeliveryAttempt`` row, success or not.
- A worker that dies while sending leaves the delivery ``sending``; the repair task
  hands it back after ``SENDING_STALE`` (longer than the task's time limit). That
  one case may send twice, so webhook receivers dedupe on ``X-OpsMarket-Delivery``.
- The webhook secret is decrypted only to sign, and never logged or stored elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from market.netguard import guarded_session
from market.storage.base import StorageError
from notifications.models import Channel, Delivery, DeliveryAttempt, DeliveryState, Event
from notifications.services.events import recipients
from portal.crypto import DecryptionFailed, decrypt_json
from portal.queue import backoff_countdown, enqueue_on_commit

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-OpsMarket-Signature"
# Longer than the send task's hard time limit: a delivery claimed this long ago has
# lost its worker.
SENDING_STALE = timedelta(seconds=300)


class DeliveryRefused(Exception):
    """Sending can never work as things are (a refused address, no recipient)."""


class DeliveryTransient(Exception):
    """Sending may work later (receiver down, SMTP busy)."""


def delivery_countdown(attempts: int) -> int:
    """Seconds before the next attempt after ``attempts`` failed ones: exponential, capped."""
    return backoff_countdown(
        attempts - 1,
        base=settings.NOTIFY_RETRY_BACKOFF_SECONDS,
        cap=settings.NOTIFY_RETRY_BACKOFF_MAX_SECONDS,
    )


def sign(secret: str, body: bytes) -> str:
    """The value of ``X-OpsMarket-Signature``: HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def instance_url(event: Event) -> str:
    instance = event.instance
    path = reverse(
        "instance-detail", kwargs={"namespace": instance.namespace.name, "name": instance.name}
    )
    return settings.PORTAL_BASE_URL + path


def webhook_body(delivery: Delivery) -> bytes:
    event = delivery.event
    instance = event.instance
    document = {
        "id": event.key,
        "delivery": delivery.pk,
        "kind": event.kind,
        "title": event.title,
        "created_at": event.created_at.isoformat(),
        "instance": {
            "namespace": instance.namespace.name,
            "name": instance.name,
            "url": instance_url(event),
        },
        "data": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _send_webhook(delivery: Delivery) -> int:
    subscription = delivery.subscription
    try:
        secret = decrypt_json(subscription.secret_encrypted)
    except DecryptionFailed:
        raise DeliveryRefused(
            "the signing secret cannot be decrypted with the current key"
        ) from None
    body = webhook_body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ops-market-notifications",
        SIGNATURE_HEADER: sign(str(secret), body),
        "X-OpsMarket-Event": delivery.event.kind,
        "X-OpsMarket-Delivery": str(delivery.pk),
    }
    session = guarded_session(allow_private=settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE_NETWORK)
    timeout = settings.NOTIFY_WEBHOOK_TIMEOUT_SECONDS
    try:
        # No redirects: the guard would judge each hop, but a receiver that moves
        # should be re-subscribed under its new address, on purpose.
        with session.post(
            subscription.url,
            data=body,
            headers=headers,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        ) as response:
            status = response.status_code
    except StorageError as exc:  # the network guard: the name now resolves somewhere refused
        raise DeliveryRefused(str(exc)) from None
    except requests.RequestException as exc:
        raise DeliveryTransient(_one_line(exc)) from None
    finally:
        session.close()
    if 200 <= status < 300:
        return status
    if status in (408, 425, 429) or status >= 500:
        raise DeliveryTransient(f"the receiver answered {status}")
    raise DeliveryRefused(f"the receiver answered {status}")


def _send_email(delivery: Delivery, people: list[Any]) -> None:
    event = delivery.event
    addresses = sorted({person.email for person in people if person.email})
    if not addresses:
        raise DeliveryRefused("no recipient with an e-mail address may see the instance")
    body = render_to_string(
        "notifications/email.txt",
        {
            "event": event,
            "instance_url": instance_url(event),
            "inbox_url": settings.PORTAL_BASE_URL + reverse("notification-inbox"),
            "subscriptions_url": settings.PORTAL_BASE_URL + reverse("subscription-list"),
        },
    )
    # One recipient: To. A team: Bcc, so members do not collect each other's addresses.
    to, bcc = (addresses, []) if len(addresses) == 1 else ([], addresses)
    message = EmailMessage(
        subject=f"[Ops Market] {event.title}"[:250],
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        bcc=bcc,
        headers={"X-OpsMarket-Event": event.kind, "X-OpsMarket-Delivery": str(delivery.pk)},
    )
    try:
        connection = get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT)
        message.connection = connection
        message.send(fail_silently=False)
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise DeliveryTransient(_one_line(exc)) from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:400] or type(exc).__name__


def delivery_attempt(*, delivery_id: int) -> int | None:
    """Try to send one delivery now.

    Steps: claim it (or return None: sent, failed, not due or taken); check that
    its subscriber may still see the instance; send; log the attempt; then mark
    it sent, failed (refused, or retries spent), or pending again.

    Returns the seconds after which the caller must try again, or None."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now
    ).update(state=DeliveryState.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if claimed != 1:
        return None
    delivery = Delivery.objects.select_related(
        "event__instance__namespace",
        "event__instance__market",
        "subscription__user",
        "subscription__team",
    ).get(pk=delivery_id)
    attempt = DeliveryAttempt.objects.create(delivery=delivery, number=delivery.attempts)
    status: int | None = None
    try:
        people = recipients(delivery.subscription, delivery.event.instance)
        if not people:
            raise DeliveryRefused("the subscriber may no longer see this instance")
        if delivery.channel == Channel.WEBHOOK:
            status = _send_webhook(delivery)
        elif delivery.channel == Channel.EMAIL:
            _send_email(delivery, people)
        else:
            raise DeliveryRefused(f"channel {delivery.channel} is not sent by a worker")
    except DeliveryRefused as exc:
        _finish(delivery, attempt, DeliveryState.FAILED, str(exc))
        return None
    except DeliveryTransient as exc:
        if delivery.attempts > settings.NOTIFY_MAX_RETRIES:
            _finish(
                delivery,
                attempt,
                DeliveryState.FAILED,
                f"gave up after {delivery.attempts} tries: {exc}",
            )
            return None
        countdown = delivery_countdown(delivery.attempts)
        _finish(delivery, attempt, DeliveryState.PENDING, str(exc), retry_in=countdown)
        return countdown
    _finish(delivery, attempt, DeliveryState.SENT, "", status=status)
    return None


def _finish(
    delivery: Delivery,
    attempt: DeliveryAttempt,
    state: str,
    error: str,
    *,
    retry_in: int = 0,
    status: int | None = None,
) -> None:
    now = timezone.now()
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(
        finished_at=now, ok=state == DeliveryState.SENT, status_code=status, error=error[:500]
    )
    changes: dict[str, Any] = {"state": state, "last_error": error[:500], "claimed_at": None}
    if state == DeliveryState.SENT:
        changes["sent_at"] = now
    if state == DeliveryState.PENDING:
        changes["next_attempt_at"] = now + timedelta(seconds=retry_in)
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(**changes)
    log.info(
        "delivery %s of %s: %s%s",
        delivery.pk,
        delivery.event.key,
        state,
        f" ({error})" if error else "",
    )


def deliveries_repair() -> int:
    """Send again what a lost message or a lost worker left: pending deliveries due
    longer than ``NOTIFY_REPAIR_GRACE_SECONDS`` ago (their message is gone), and
    deliveries claimed longer than ``SENDING_STALE`` ago (their worker is). Returns
    how many were queued."""
    from notifications.tasks import delivery_send_task

    now = timezone.now()
    stale = Delivery.objects.filter(
        state=DeliveryState.SENDING, claimed_at__lt=now - SENDING_STALE
    ).values_list("pk", flat=True)[:1000]
    ids: list[int] = []
    for delivery_id in list(stale):
        # Compare-and-set: a worker that was only slow may finish it meanwhile.
        if Delivery.objects.filter(pk=delivery_id, state=DeliveryState.SENDING).update(
            state=DeliveryState.PENDING, claimed_at=None, next_attempt_at=now
        ):
            ids.append(delivery_id)
    overdue = Delivery.objects.filter(
        state=DeliveryState.PENDING,
        next_attempt_at__lt=now - timedelta(seconds=settings.NOTIFY_REPAIR_GRACE_SECONDS),
    ).values_list("pk", flat=True)[:1000]
    ids += [delivery_id for delivery_id in overdue if delivery_id not in ids]
    for delivery_id in ids:
        enqueue_on_commit(delivery_send_task, delivery_id, queue=settings.NOTIFY_QUEUE)
    return len(ids)
