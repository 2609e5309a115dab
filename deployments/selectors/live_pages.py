"""The live state (SPEC section 9) as the instance pages show it: an instance's stored
ResourceState rows grouped by kind, and the few words that sum an instance up
("Degraded · 1 drifted") on its page and in the instances list."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.timesince import timesince

from deployments.models import DeployTarget, Instance, LiveSync, ResourceState
from deployments.selectors.instances import instance_live_resources


@dataclass(frozen=True)
class KindGroup:
    kind: str
    rows: list[ResourceState]


@dataclass(frozen=True)
class LiveResources:
    """What the Resources tab of a Kubernetes instance shows."""

    groups: list[KindGroup]
    count: int
    drifted: int
    missing: int
    health: str
    checked_at: datetime | None
    error: str
    notes: list[str] = field(default_factory=list)

    @property
    def checked_ago(self) -> str:
        """``12 seconds ago``, ``3 minutes ago``: refreshes are seconds apart, so
        seconds count here (the catalogue's "just now" would hide them)."""
        if self.checked_at is None:
            return ""
        seconds = max(0, int((timezone.now() - self.checked_at).total_seconds()))
        if seconds < 60:
            return f"{seconds} second{'' if seconds == 1 else 's'} ago"
        return f"{timesince(self.checked_at, depth=1)} ago"


def live_notes(*, drifted: int, missing: int) -> list[str]:
    """``["1 drifted", "2 missing"]``: what is out of sync, nothing when all is."""
    notes = [f"{drifted} drifted"] if drifted else []
    return notes + ([f"{missing} missing"] if missing else [])


def instance_live_view(instance: Instance, *, refresh: bool) -> LiveResources:
    """The instance's objects as last seen in its cluster, grouped by kind in apply
    order (a kind's group sits where its first object is applied). Looked at again
    only when asked or when the stored look is out of date (instance_live_resources
    decides); otherwise one query."""
    rows = instance_live_resources(instance, refresh=refresh)
    groups: dict[str, list[ResourceState]] = {}
    for row in rows:
        groups.setdefault(row.kind, []).append(row)
    drifted = sum(1 for row in rows if row.sync == LiveSync.DRIFTED)
    missing = sum(1 for row in rows if row.sync == LiveSync.MISSING)
    return LiveResources(
        groups=[KindGroup(kind, members) for kind, members in groups.items()],
        count=len(rows),
        drifted=drifted,
        missing=missing,
        health=instance.live_health,
        checked_at=instance.live_checked_at,
        error=instance.live_error,
        notes=live_notes(drifted=drifted, missing=missing),
    )


def _sync_count(sync: str) -> Coalesce:
    counted = (
        ResourceState.objects.filter(instance=OuterRef("pk"), sync=sync)
        .order_by()
        .values("instance")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def with_live_counts(rows: QuerySet[Instance]) -> QuerySet[Instance]:
    """Each instance with ``live_drifted`` and ``live_missing``, its objects out of
    sync: two subqueries, not a query per row (the instances list)."""
    return rows.annotate(
        live_drifted=_sync_count(LiveSync.DRIFTED), live_missing=_sync_count(LiveSync.MISSING)
    )


def is_on_cluster(instance: Instance) -> bool:
    return instance.namespace.target == DeployTarget.KUBERNETES
