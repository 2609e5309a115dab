"""API tokens: created once, stored as a sha256 digest, expired or revoked."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.actors import Actor
from portal.models import ApiToken
from portal.services.audit import audit_record
from portal.services.errors import AlreadyExists, Invalid

TOKEN_PREFIX = "omk_"  # noqa: S105 - a marker, not a secret
TOKEN_MAX_DAYS = 3650


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown to the user once, never stored


def token_create(*, actor: Actor, user: Any, name: str, days: int | None = 90) -> IssuedToken:
    """Create a token for `user`. 32 random bytes make a salt pointless, so a
    plain sha256 is enough to make the stored digest useless to a thief.

    `days=None` makes a token that never expires; only commands offer that.
    Names are unique per user, revoked tokens included, so an audit record's
    token name always points at one token.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("A token name needs 1 to 100 characters.")
    if days is not None and not 1 <= days <= TOKEN_MAX_DAYS:
        raise Invalid(f"A token lives between 1 and {TOKEN_MAX_DAYS} days.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=days) if days else None
    parent = actor.token
    # A leaked short-lived token must not be able to mint a long-lived one.
    if (
        parent is not None
        and parent.expires_at is not None
        and (expires_at is None or expires_at > parent.expires_at)
    ):
        raise Invalid(
            f"A token cannot create a token that outlives it (this one expires "
            f"{parent.expires_at:%Y-%m-%d %H:%M} UTC); ask for fewer days."
        )
    with transaction.atomic():
        if ApiToken.objects.filter(user=user, name=name).exists():
            raise AlreadyExists(f"{user} already has a token named {name!r}.")
        try:
            # A savepoint, so a racing twin's IntegrityError leaves the outer
            # transaction usable and becomes the same clear error.
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name,
                    prefix=raw[: len(TOKEN_PREFIX) + 6],
                    digest=_digest(raw),
                    expires_at=expires_at,
                )
        except IntegrityError:
            raise AlreadyExists(f"{user} already has a token named {name!r}.") from None
        audit_record(
            actor=actor,
            action="token.create",
            target=token,
            detail={"name": name, "owner": str(user), "expires_at": str(expires_at or "never")},
        )
    return IssuedToken(token=token, secret=raw)


def token_revoke(*, actor: Actor, token: ApiToken) -> ApiToken:
    with transaction.atomic():
        # Compare-and-set: a token revoked twice writes one audit record.
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        token.refresh_from_db()
        if updated:
            audit_record(
                actor=actor, action="token.revoke", target=token, detail={"name": token.name}
            )
    return token


def token_lookup(raw: str) -> ApiToken | None:
    """The active token matching `raw`, or None (unknown, expired or revoked)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(digest=_digest(raw)).first()
    if token is None or not token.is_active() or not token.user.is_active:
        return None
    # Coarse last-used stamp: one write a minute at most, not one per request.
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
