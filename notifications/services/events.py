"""Emitting events: one row per fact (the unique key), fanned out to the
subscriptions that asked for its kind and may see its instance.

Steps of :func:`event_emit`, in one transaction: insert the event (a key already
there means the fact was emitted before: nothing else happens); for each matching
subscription insert one delivery (unique per event, subscription and channel);
portal deliveries write the inbox rows at once, the others are queued for a worker
after commit (``portal.queue.enqueue_on_commit``; the repair task sends what a lost
message left behind).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from deployments.models import Instance, Operation
from notifications.models import (
    Channel,
    Delivery,
    DeliveryState,
    Event,
    EventKind,
    Notification,
    Subscription,
)
from portal.models import Membership
from portal.queue import enqueue_on_commit

log = logging.getLogger(__name__)

# Each string in a payload is cut here first; lists and objects keep this many items.
_STRING_LIMITS = (1000, 200, 40)
_ITEMS_LIMIT = 50
_DEPTH_LIMIT = 6


def _cut(value: Any, limit: int, depth: int = 0) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[: limit - 1] + "…"
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth >= _DEPTH_LIMIT:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())[:_ITEMS_LIMIT]
        return {str(key)[:100]: _cut(item, limit, depth + 1) for key, item in items}
    if isinstance(value, list | tuple):
        return [_cut(item, limit, depth + 1) for item in list(value)[:_ITEMS_LIMIT]]
    return _cut(str(value), limit, depth)


def bounded(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` cut to at most ``NOTIFY_MAX_PAYLOAD_BYTES`` of JSON: strings
    shortened, then shortened more, lists and objects trimmed. What comes from a
    market (an advisory's summary) is the publisher's to size, not ours to send."""
    limit_bytes = settings.NOTIFY_MAX_PAYLOAD_BYTES
    for limit in _STRING_LIMITS:
        cut = _cut(payload, limit)
        if len(json.dumps(cut).encode()) <= limit_bytes:
            return dict(cut)
    return {"truncated": True}


def _title(text: str) -> str:
    return text if len(text) <= 300 else text[:299] + "…"


def event_emit(
    *, key: str, kind: str, instance: Instance, title: str, payload: dict[str, Any]
) -> Event | None:
    """Record the fact ``key`` once and fan it out; None when it was recorded before."""
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: the duplicate key rolls back alone
                event = Event.objects.create(
                    key=key[:300],
                    kind=kind,
                    instance=instance,
                    title=_title(title),
                    payload=bounded(payload),
                )
        except IntegrityError:
            return None
        deliveries_fan_out(event=event)
    log.info("notification event %s", event.key)
    return event


def subscriptions_for(instance: Instance) -> list[Subscription]:
    """Subscriptions whose owner may see ``instance``: its team's, its team members'
    and staff users' (the rule of ``portal.permissions``: staff see everything)."""
    team_id = instance.namespace.team_id
    members = Membership.objects.filter(team_id=team_id).values("user_id")
    return list(
        Subscription.objects.filter(
            Q(team_id=team_id)
            | Q(user__in=members, user__is_active=True)
            | Q(user__is_staff=True, user__is_active=True)
        ).select_related("user", "team")
    )


def team_members(team_id: int) -> list[Any]:
    """The active members of a team: who hears of its instances through its subscriptions."""
    return list(get_user_model().objects.filter(memberships__team_id=team_id, is_active=True))


def recipients(
    subscription: Subscription, instance: Instance, *, members: list[Any] | None = None
) -> list[Any]:
    """The users a subscription speaks to about ``instance``, each of whom may see
    it now: the subscriber, or the active members of the subscribing team (who
    see its namespaces' instances). Empty when the subscriber lost the right.
    ``members``: the instance's team's ``team_members`` when the caller read them
    already (a fan-out reads them once for all its subscriptions, not once each)."""
    team_id = instance.namespace.team_id
    if subscription.team_id is not None:
        if subscription.team_id != team_id:
            return []
        return members if members is not None else team_members(team_id)
    user = subscription.user
    if user is None or not user.is_active:
        return []
    if user.is_staff:
        return [user]
    if members is not None:
        member = any(person.pk == user.pk for person in members)
    else:
        member = Membership.objects.filter(team_id=team_id, user_id=user.pk).exists()
    return [user] if member else []


def deliveries_fan_out(*, event: Event) -> list[Delivery]:
    """One delivery per matching subscription that has none yet for the event.
    Call inside the event's transaction; queues the e-mail and webhook ones."""
    from notifications.tasks import delivery_send_task

    instance = event.instance  # with its namespace, as the emitter read it
    matching = [
        subscription
        for subscription in subscriptions_for(instance)
        if event.kind in subscription.events
    ]
    if not matching:
        return []
    done = set(event.deliveries.values_list("subscription_id", "channel"))
    members = team_members(instance.namespace.team_id)
    created: list[Delivery] = []
    now = timezone.now()
    for subscription in matching:
        if (subscription.pk, subscription.channel) in done:
            continue
        people = recipients(subscription, instance, members=members)
        if not people:
            continue
        portal = subscription.channel == Channel.PORTAL
        try:
            with transaction.atomic():
                delivery = Delivery.objects.create(
                    event=event,
                    subscription=subscription,
                    channel=subscription.channel,
                    state=DeliveryState.SENT if portal else DeliveryState.PENDING,
                    attempts=1 if portal else 0,
                    sent_at=now if portal else None,
                    next_attempt_at=now,
                )
                if portal:
                    Notification.objects.bulk_create(
                        [Notification(user=person, event=event) for person in people],
                        ignore_conflicts=True,
                    )
        except IntegrityError:  # a concurrent fan-out made it: theirs stands
            continue
        created.append(delivery)
        if not portal:
            enqueue_on_commit(delivery_send_task, delivery.pk, queue=settings.NOTIFY_QUEUE)
    return created


# --- the four kinds -------------------------------------------------------------


def _instance_payload(instance: Instance) -> dict[str, Any]:
    return {"app": instance.app_name, "market": instance.market.name, "version": instance.version}


def _instance_event(
    kind: EventKind, instance: Instance, fact: str, title: str, **data: Any
) -> Event | None:
    """A fact about the instance's version: keyed ``<kind>:<instance id>:<fact>``, its
    payload the instance's app, market and version with ``data``."""
    return event_emit(
        key=f"{kind.value}:{instance.pk}:{fact}",
        kind=kind,
        instance=instance,
        title=title,
        payload={**_instance_payload(instance), **data},
    )


def event_new_version(*, instance: Instance, version: str) -> Event | None:
    title = f"{instance}: {instance.app_name} {version} is available (it runs {instance.version})"
    return _instance_event(EventKind.NEW_VERSION, instance, version, title, new_version=version)


def event_advisory(*, instance: Instance, advisory: dict[str, Any]) -> Event | None:
    """``advisory`` as the market's index carries it: id, severity, affected,
    fixed, summary. Text from a market: bounded, and the id cut for the key."""
    advisory_id = str(advisory.get("id", ""))[:100]
    severity = str(advisory.get("severity", ""))[:20]
    title = (
        f"{instance}: advisory {advisory_id} ({severity or 'unrated'}) affects "
        f"{instance.app_name} {instance.version}"
    )
    return _instance_event(EventKind.ADVISORY, instance, advisory_id, title, advisory=advisory)


def event_yanked(*, instance: Instance, reason: str) -> Event | None:
    title = f"{instance} runs {instance.app_name} {instance.version}, which was yanked"
    return _instance_event(EventKind.YANKED, instance, instance.version, title, reason=reason)


def operation_failed_key(operation_id: object) -> str:
    """The key of an operation's failure event (one per operation, whatever its instance)."""
    return f"{EventKind.OPERATION_FAILED.value}:{operation_id}"


def event_operation_failed(*, operation: Operation) -> Event | None:
    instance = operation.instance
    return event_emit(
        key=operation_failed_key(operation.pk),
        kind=EventKind.OPERATION_FAILED,
        instance=instance,
        title=f"{instance}: {operation.kind} {operation.state.replace('_', ' ')}",
        payload={
            **_instance_payload(instance),
            "operation": {
                "id": str(operation.pk),
                "kind": operation.kind,
                "state": operation.state,
                "error": operation.error,
                "requested_by": operation.requested_by,
            },
        },
    )
