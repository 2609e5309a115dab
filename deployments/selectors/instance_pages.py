"""Reads the instance pages need beside deployments.selectors.instances: version lists,
the namespaces a user may install into, filter choices. Always through the
permission helper."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from deployments.models import Instance, Namespace
from deployments.selectors.instances import instance_revisions
from deployments.selectors.namespaces import namespace_list
from market.models import App, AppVersion, Market
from market.selectors.browse import sort_versions
from portal.models import Role
from portal.permissions import AnyUser, filter_visible, teams_with_role


def app_versions(*, market: Market, app: str) -> list[AppVersion]:
    """Every version of the app in that market, highest first."""
    return sort_versions(
        list(AppVersion.objects.filter(app__market=market, app__name=app).select_related("app"))
    )


def installable_namespaces(*, user: AnyUser) -> QuerySet[Namespace]:
    """Namespaces of the teams where the user is an operator or admin."""
    return namespace_list(user=user).filter(team__in=teams_with_role(user, Role.OPERATOR))


def instance_app(instance: Instance) -> App | None:
    """The catalogue entry of the instance's app; None once its market dropped it."""
    return App.objects.filter(market=instance.market, name=instance.app_name).first()


def instance_filter_choices(*, user: AnyUser) -> dict[str, list[str]]:
    visible = filter_visible(user, Instance.objects.all(), team_field="namespace__team")
    return {
        "namespaces": list(namespace_list(user=user).values_list("name", flat=True)),
        "apps": sorted(set(visible.values_list("app_name", flat=True))),
    }


def revision_rows(instance: Instance) -> list[dict[str, Any]]:
    """Revisions newest first, each with the number of the one before it (for diffs)."""
    revisions = list(instance_revisions(instance).select_related("operation"))
    rows = []
    for index, revision in enumerate(revisions):
        previous = revisions[index + 1].number if index + 1 < len(revisions) else None
        rows.append({"revision": revision, "previous": previous})
    return rows
