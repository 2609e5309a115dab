"""Creating and deleting subscriptions. A user manages their own; a team's are
managed by its admins and by staff. Each change writes an audit record, never the
webhook secret."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from market.netguard import check_url
from market.storage.base import StorageError
from notifications.models import Channel, EventKind, Subscription
from portal.actors import Actor
from portal.crypto import encrypt_json
from portal.models import Role, Team
from portal.permissions import has_team_role
from portal.services.audit import audit_record
from portal.services.errors import Forbidden, Invalid

# Subscriptions one user, or one team, may hold: a bound on what one event fans out to.
MAX_SUBSCRIPTIONS_PER_OWNER = 50


@dataclass(frozen=True)
class CreatedSubscription:
    subscription: Subscription
    secret: str  # the webhook's signing secret, for this one answer; "" otherwise


def webhook_url_check(url: str) -> str:
    """The URL stripped, or Invalid saying why it is refused: http(s) only, no
    credentials in it, and a host the network guard allows (private ranges only
    with ``NOTIFY_WEBHOOK_ALLOW_PRIVATE_NETWORK``). Sending checks again."""
    url = url.strip()
    if not url:
        raise Invalid("A webhook needs a URL.")
    if len(url) > 500:
        raise Invalid("The URL is longer than 500 characters.")
    if any(ord(char) < 33 for char in url):
        raise Invalid("The URL must not contain spaces or control characters.")
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise Invalid("Put no credentials in the URL: the signature authenticates the portal.")
    try:
        check_url(
            url,
            allow_private=settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE_NETWORK,
            what="a webhook receiver",
        )
    except (OSError, StorageError, UnicodeError, ValueError) as exc:
        raise Invalid(f"Webhook URL refused: {exc}") from None
    return url


def _events_check(events: list[str]) -> list[str]:
    known = set(EventKind.values)
    chosen = sorted({str(event) for event in events})
    if not chosen:
        raise Invalid("Choose at least one kind of event.")
    unknown = [event for event in chosen if event not in known]
    if unknown:
        raise Invalid(f"Unknown event kind {unknown[0][:40]!r}; known: {', '.join(sorted(known))}.")
    return chosen


def subscription_create(
    *,
    actor: Actor,
    channel: str,
    events: list[str],
    team: Team | None = None,
    url: str = "",
) -> CreatedSubscription:
    """Subscribe the actor (or ``team``, which the actor must administer) to
    ``events`` on ``channel``. A webhook gets a new random secret, returned here
    and never again."""
    user = actor.user
    if user is None or not user.is_authenticated:
        raise Forbidden("Log in to subscribe.")
    if channel not in Channel.values:
        raise Invalid(f"Unknown channel; choose one of {', '.join(Channel.values)}.")
    chosen = _events_check(events)
    if team is not None and not has_team_role(user, team, Role.ADMIN):
        raise Forbidden(f"Only admins of {team.name} manage its subscriptions.")
    if channel == Channel.EMAIL and team is None and not user.email:
        raise Invalid("Your account has no e-mail address; add one to your profile first.")
    clean_url = webhook_url_check(url) if channel == Channel.WEBHOOK else ""
    if channel != Channel.WEBHOOK and url.strip():
        raise Invalid("Only webhooks take a URL.")
    secret = secrets.token_urlsafe(32) if channel == Channel.WEBHOOK else ""
    owner: dict[str, Any] = {"team": team} if team is not None else {"user": user}
    with transaction.atomic():
        if Subscription.objects.filter(**owner).count() >= MAX_SUBSCRIPTIONS_PER_OWNER:
            raise Invalid(f"At most {MAX_SUBSCRIPTIONS_PER_OWNER} subscriptions per owner.")
        subscription = Subscription.objects.create(
            **owner,
            channel=channel,
            events=chosen,
            url=clean_url,
            secret_encrypted=encrypt_json(secret) if secret else "",
            created_by=actor.label,
        )
        _audit(actor, "subscription.create", subscription)
    return CreatedSubscription(subscription=subscription, secret=secret)


def _audit(actor: Actor, action: str, subscription: Subscription) -> None:
    """The audit record of a change to ``subscription``: what it was, never its secret."""
    audit_record(
        actor=actor,
        action=action,
        target=subscription,
        target_repr=f"{subscription.owner_label} {subscription.channel}",
        detail={
            "owner": subscription.owner_label,
            "channel": subscription.channel,
            "events": subscription.events,
            "url": subscription.url,
        },
    )


def may_manage(user: Any, subscription: Subscription) -> bool:
    if subscription.user_id is not None:
        return bool(subscription.user_id == user.pk)
    return subscription.team is not None and has_team_role(user, subscription.team, Role.ADMIN)


def subscription_delete(*, actor: Actor, subscription: Subscription) -> None:
    """Delete a subscription the actor manages, with its delivery history."""
    if not may_manage(actor.user, subscription):
        raise Forbidden("Only its owner, or an admin of its team, deletes a subscription.")
    with transaction.atomic():
        _audit(actor, "subscription.delete", subscription)
        subscription.delete()
