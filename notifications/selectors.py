"""Reads of the notifications app, each for one user: their inbox, and the
subscriptions they may see (their own and their teams')."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from notifications.models import Delivery, DeliveryAttempt, Notification, Subscription
from portal.permissions import AnyUser, is_staff, visible_teams


def notification_list(*, user: AnyUser, unread: bool = False) -> QuerySet[Notification]:
    if not user.is_authenticated:
        return Notification.objects.none()
    rows = Notification.objects.filter(user_id=user.pk).select_related(
        "event", "event__instance", "event__instance__namespace"
    )
    return rows.filter(read_at__isnull=True) if unread else rows


def notification_get(*, user: AnyUser, notification_id: int) -> Notification:
    found = notification_list(user=user).filter(pk=notification_id).first()
    if found is None:
        raise Http404("No such notification.")
    return found


def unread_count(*, user: AnyUser) -> int:
    return notification_list(user=user, unread=True).count()


def subscription_list(*, user: AnyUser) -> QuerySet[Subscription]:
    """The user's own subscriptions and those of the teams they see (staff: every
    team's, but only their own personal ones)."""
    if not user.is_authenticated:
        return Subscription.objects.none()
    teams = Q(team__isnull=False) if is_staff(user) else Q(team__in=visible_teams(user))
    return Subscription.objects.filter(Q(user_id=user.pk) | teams).select_related("user", "team")


def subscription_get(*, user: AnyUser, subscription_id: int) -> Subscription:
    found = subscription_list(user=user).filter(pk=subscription_id).first()
    if found is None:
        raise Http404("No such subscription.")
    return found


def subscription_deliveries(subscription: Subscription, limit: int = 50) -> list[Delivery]:
    """The subscription's newest deliveries, each with its attempts in order as
    ``attempt_rows``: two queries whatever the number of deliveries."""
    attempts = Prefetch(
        "attempt_log", queryset=DeliveryAttempt.objects.order_by("number"), to_attr="attempt_rows"
    )
    return list(
        subscription.deliveries.select_related("event")
        .prefetch_related(attempts)
        .order_by("-created_at", "-id")[:limit]
    )
