"""Reads about namespaces, always through the permission helper."""

from __future__ import annotations

from django.db.models import QuerySet

from deployments.models import Namespace
from portal.permissions import AnyUser, filter_visible, get_visible_or_404


def namespace_list(*, user: AnyUser, team: str | None = None) -> QuerySet[Namespace]:
    """Namespaces of the user's teams (all of them for staff), optionally of one team."""
    namespaces = filter_visible(user, Namespace.objects.select_related("team", "cluster"))
    if team:
        namespaces = namespaces.filter(team__name=team)
    return namespaces.order_by("name")


def namespace_get(*, user: AnyUser, name: str) -> Namespace:
    """The namespace, or Http404 when it does not exist or is not the user's to see."""
    return get_visible_or_404(user, Namespace.objects.select_related("team", "cluster"), name=name)
