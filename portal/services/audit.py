"""The audit log: one service records every change."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Model

from portal.actors import Actor
from portal.models import AuditEvent

# Keys whose values never reach the audit log, whatever the caller passes.
_SECRET_KEY = re.compile(r"pass|secret|token|key|credential|auth", re.IGNORECASE)
MASK = "••••••"


def scrub(detail: Any) -> Any:
    """Mask values under secret-looking keys, recursively."""
    if isinstance(detail, dict):
        return {
            key: (MASK if _SECRET_KEY.search(str(key)) else scrub(value))
            for key, value in detail.items()
        }
    if isinstance(detail, list):
        return [scrub(item) for item in detail]
    return detail


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit record. Call it inside the transaction of the change, so
    the record exists exactly when the change does."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_repr = target_repr or str(target)
    user = actor.user if actor.user is not None and actor.user.is_authenticated else None
    return AuditEvent.objects.create(
        actor=user,
        actor_label=actor.label,
        token=actor.token,
        token_label=actor.token.name if actor.token else "",
        via=actor.via,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr[:200],
        ip_address=actor.ip_address,
        detail=scrub(detail or {}),
    )
