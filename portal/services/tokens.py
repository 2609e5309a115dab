"""API tokens: created once, stored as a sha256 digest, expired or revoked."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from portal.actors import Actor
from portal.models import ApiToken
from portal.services.audit import audit_record

TOKEN_PREFIX = "omk_"  # noqa: S105 - a marker, not a secret


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown to the user once, never stored


def token_create(*, actor: Actor, user: Any, name: str, days: int | None = 90) -> IssuedToken:
    """Create a token for `user`. 32 random bytes make a salt pointless, so a
    plain sha256 is enough to make the stored digest useless to a thief."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=days) if days else None
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=raw[: len(TOKEN_PREFIX) + 6],
            digest=_digest(raw),
            expires_at=expires_at,
        )
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
