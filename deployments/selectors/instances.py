"""Reads about instances, revisions and operations, always through the permission
helper: a user sees the instances of the namespaces of their teams (staff: all)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404

from deployments.models import (
    ACTIVE_OPERATION_STATES,
    Instance,
    Operation,
    ResourceState,
    Revision,
)
from deployments.selectors.changes import Changes, changes_between
from deployments.workflow.manifests import resources_of
from market.models import App
from market.selectors.advisories import with_version_flags
from market.semver import InvalidVersion, parse_version
from portal.permissions import AnyUser, filter_visible, get_visible_or_404

TEAM = "namespace__team"


def with_active_operation(rows: QuerySet[Instance]) -> QuerySet[Instance]:
    """Each instance with the kind and state of its active operation (at most one:
    a partial unique index), for ``Instance.status_label``: two subqueries, not a
    query per row."""
    active = Operation.objects.filter(
        instance=OuterRef("pk"), state__in=ACTIVE_OPERATION_STATES
    ).order_by()
    return rows.annotate(
        active_kind=Subquery(active.values("kind")[:1]),
        active_state=Subquery(active.values("state")[:1]),
    )


def instance_list(
    *, user: AnyUser, namespace: str = "", app: str = "", status: str = ""
) -> QuerySet[Instance]:
    """Visible instances, newest change first; uninstalled ones only when asked for."""
    latest = App.objects.filter(market=OuterRef("market"), name=OuterRef("app_name")).values(
        "latest"
    )[:1]
    rows = filter_visible(
        user,
        with_active_operation(
            Instance.objects.select_related("namespace", "namespace__team", "market")
        ),
        team_field=TEAM,
    ).annotate(latest_version=Subquery(latest))
    rows = with_version_flags(rows)
    if namespace:
        rows = rows.filter(namespace__name=namespace)
    if app:
        rows = rows.filter(app_name=app)
    # Uninstalled instances are history: listed only when asked for by status.
    rows = rows.filter(status=status) if status else rows.exclude(status="uninstalled")
    return rows.order_by("namespace__name", "name")


def upgrade_available(version: str, latest: str | None) -> bool:
    if not latest or not version:
        return False
    try:
        return parse_version(latest) > parse_version(version)
    except InvalidVersion:
        return False


def instance_get(*, user: AnyUser, namespace: str, name: str) -> Instance:
    return get_visible_or_404(
        user,
        with_version_flags(
            with_active_operation(
                Instance.objects.select_related(
                    "namespace", "namespace__team", "market", "current_revision"
                )
            )
        ),
        team_field=TEAM,
        namespace__name=namespace,
        name=name,
    )


def operation_get(*, user: AnyUser, operation_id: str) -> Operation:
    try:
        return get_visible_or_404(
            user,
            Operation.objects.select_related(
                "instance", "instance__namespace", "caused_by__instance__namespace"
            ).prefetch_related("steps"),
            team_field="instance__namespace__team",
            pk=operation_id,
        )
    except (ValueError, ValidationError):  # a malformed uuid is just not found
        raise Http404("No such operation.") from None


def instance_operations(instance: Instance, limit: int = 20) -> list[Operation]:
    return list(
        instance.operations.select_related("caused_by__instance__namespace")
        .prefetch_related("steps")
        .order_by("-created_at")[:limit]
    )


def instance_revisions(instance: Instance) -> QuerySet[Revision]:
    return instance.revisions.order_by("-number")


def instance_resources(instance: Instance) -> list[dict[str, str]]:
    revision = instance.current_revision
    return resources_of(revision.manifests_masked) if revision else []


def instance_live_resources(instance: Instance, *, refresh: bool = False) -> list[ResourceState]:
    """The live state of the instance's objects (SPEC section 9), looked at again when
    asked (``refresh``) or out of date (``live_is_stale``): at most one refresh interval
    old, whether or not the beat ran."""
    from deployments.services.live import live_is_stale, namespace_live_refresh

    if refresh or live_is_stale(instance):
        namespace_live_refresh(namespace_id=instance.namespace_id, instance_ids=[instance.pk])
        instance.refresh_from_db(
            fields=["live_sync", "live_health", "live_checked_at", "live_error"]
        )
    return list(instance.resources.order_by("position"))


@dataclass
class RevisionDiff:
    old: Revision
    new: Revision
    changes: Changes

    @property
    def values(self) -> str:
        return self.changes.values_diff

    @property
    def manifests(self) -> str:
        return self.changes.manifests_diff


def revision_diff(*, instance: Instance, old: int, new: int) -> RevisionDiff:
    """Masked values and manifests of two revisions compared (see changes_between)."""
    rows = {r.number: r for r in instance.revisions.filter(number__in=[old, new])}
    if old not in rows or new not in rows:
        raise Http404("No such revision.")
    a, b = rows[old], rows[new]
    return RevisionDiff(
        old=a,
        new=b,
        changes=changes_between(
            old_values=a.values_masked,
            new_values=b.values_masked,
            old_manifests=a.manifests_masked,
            new_manifests=b.manifests_masked,
            old_label=f"r{old}",
            new_label=f"r{new}",
        ),
    )
