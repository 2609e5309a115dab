"""Notifications (issue 15): what happened (Event), who asked to hear of it
(Subscription), each sending of one event to one subscription (Delivery, with its
attempts) and the portal inbox (Notification).

Invariants the database keeps, not Python:
- one Event per fact: ``Event.key`` is unique (``new-version:<instance>:<version>``,
  ``advisory:<instance>:<advisory id>``, ``yanked:<instance>:<version>``,
  ``operation-failed:<operation id>``), so a scan that runs twice, or two workers
  scanning at once, emit it once;
- one Delivery per (event, subscription, channel) and one inbox Notification per
  (event, user), so fanning out again sends nothing twice;
- a subscription belongs to exactly one of a user or a team.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from deployments.models import Instance
from portal.models import Team


class EventKind(models.TextChoices):
    NEW_VERSION = "new-version", "New version available"
    ADVISORY = "advisory", "Advisory affects an instance"
    YANKED = "yanked", "Yanked version running"
    OPERATION_FAILED = "operation-failed", "Operation failed"


class Channel(models.TextChoices):
    PORTAL = "portal", "Portal inbox"
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class Subscription(models.Model):
    """Someone asking to hear of some kinds of event about the instances they may
    see: a user (the instances of their teams; staff: all) or a team (the instances
    of its namespaces). A webhook's secret is stored encrypted and shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_subscriptions",
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_subscriptions",
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    events = models.JSONField(default=list)  # EventKind values
    url = models.CharField(max_length=500, blank=True)  # webhook only
    secret_encrypted = models.TextField(blank=True, editable=False)  # webhook only
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, team__isnull=True)
                | Q(user__isnull=True, team__isnull=False),
                name="subscription_one_owner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.owner_label} {self.channel} {','.join(self.events)}"

    @property
    def owner_label(self) -> str:
        if self.user_id is not None:
            return f"user {self.user.get_username()}"  # type: ignore[union-attr]
        return f"team {self.team.name}"  # type: ignore[union-attr]

    @property
    def target_label(self) -> str:
        """Where it goes, for lists: never the secret."""
        if self.channel == Channel.WEBHOOK:
            return self.url
        if self.channel == Channel.EMAIL:
            return "your e-mail address" if self.user_id else "the team members' e-mail"
        return "the portal inbox"


class Event(models.Model):
    key = models.CharField(max_length=300, unique=True)
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    instance = models.ForeignKey(
        Instance, on_delete=models.CASCADE, related_name="notification_events"
    )
    title = models.CharField(max_length=300)
    # What receivers get besides the instance: bounded (services.events.bounded).
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.key


class DeliveryState(models.TextChoices):
    PENDING = "pending"  # waiting for its (next) attempt
    SENDING = "sending"  # an attempt is under way (claimed by a worker)
    SENT = "sent"
    FAILED = "failed"  # retries spent, or refused for good


class Delivery(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt is due; the repair task sends again what is overdue.
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "subscription", "channel"], name="delivery_unique_per_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event.key} → subscription {self.subscription_id} ({self.state})"


class DeliveryAttempt(models.Model):
    """One try at sending a delivery: what the receiver answered, or why not."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"


class Notification(models.Model):
    """One event in one user's portal inbox."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="notifications")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "user"], name="notification_unique_per_user")
        ]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return f"{self.event.key} for {self.user_id}"
