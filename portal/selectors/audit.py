"""Reads of the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from portal.models import AuditEvent
from portal.permissions import AnyUser, is_staff


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    target_type: str = ""
    since: date | None = None
    until: date | None = None  # inclusive: the whole day


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def audit_event_list(*, user: AnyUser, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Events the user may read, newest first. Only staff read the audit log:
    events name users, addresses and objects of every team."""
    if not is_staff(user):
        return AuditEvent.objects.none()
    events = AuditEvent.objects.all()
    if filters.actor:
        events = events.filter(actor_label__iexact=filters.actor)
    if filters.action:
        # "team" matches team.create, team.update...; "team.create" matches exactly.
        if "." in filters.action:
            events = events.filter(action=filters.action)
        else:
            events = events.filter(action__startswith=f"{filters.action}.")
    if filters.target_type:
        events = events.filter(target_type=filters.target_type)
    if filters.since:
        events = events.filter(created_at__gte=_start_of(filters.since))
    if filters.until:
        events = events.filter(created_at__lt=_start_of(filters.until + timedelta(days=1)))
    return events.order_by("-created_at", "-id")


def audit_facets() -> dict[str, list[str]]:
    """Distinct actions and target types, for the filter drop-downs."""
    # order_by() replaces the model's ordering, which would otherwise join the
    # SELECT DISTINCT and defeat it.
    actions = AuditEvent.objects.order_by("action").values_list("action", flat=True)
    types = (
        AuditEvent.objects.exclude(target_type="")
        .order_by("target_type")
        .values_list("target_type", flat=True)
    )
    return {"actions": list(actions.distinct()), "target_types": list(types.distinct())}
