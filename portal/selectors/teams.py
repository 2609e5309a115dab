"""Reads about teams, always through the permission helper."""

from __future__ import annotations

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from portal.models import Membership, Team
from portal.permissions import AnyUser, visible_teams


def team_list(*, user: AnyUser) -> QuerySet[Team]:
    """The teams `user` may see, each with `member_count` and `my_role` (the
    user's own role, or None for staff who are not members)."""
    if not user.is_authenticated:
        return Team.objects.none()
    my_role = Membership.objects.filter(team=OuterRef("pk"), user_id=user.pk).values("role")[:1]
    # A subquery, not Count("memberships"): visible_teams filters on the same join
    # for non-staff users, and the count then saw only the viewer's own row.
    member_count = (
        Membership.objects.filter(team=OuterRef("pk"))
        .order_by()
        .values("team")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        visible_teams(user)
        .annotate(member_count=Coalesce(Subquery(member_count), 0), my_role=Subquery(my_role))
        .order_by("name")
    )


def team_members(*, team: Team) -> QuerySet[Membership]:
    return Membership.objects.filter(team=team).select_related("user").order_by("user__username")


def team_by_name(name: str) -> Team | None:
    """Any team by name, with no permission filter: for commands, which run as
    the operator of the site."""
    return Team.objects.filter(name=name).first()
