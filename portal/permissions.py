"""The one place that decides who may see and do what.

Every view and API endpoint asks here, for single objects and for lists alike.
Rules:
- staff users see and administer everything;
- a team member sees the team's objects; `operator` may also install and
  upgrade, `admin` may also manage the team and its namespaces;
- an object the user may not see is reported as missing (404), never as
  forbidden, so its existence does not leak.
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from portal.models import ApiToken, Membership, Role, Team

M = TypeVar("M", bound=Model)
AnyUser = AbstractBaseUser | AnonymousUser

_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def is_staff(user: AnyUser) -> bool:
    return bool(user.is_authenticated and getattr(user, "is_staff", False) and user.is_active)


def team_role(user: AnyUser, team: Team) -> str | None:
    """The user's role in the team, or None. Staff count as admin everywhere."""
    if not user.is_authenticated:
        return None
    if is_staff(user):
        return Role.ADMIN
    membership = Membership.objects.filter(team=team, user_id=user.pk).only("role").first()
    return membership.role if membership else None


def has_team_role(user: AnyUser, team: Team, minimum: str) -> bool:
    role = team_role(user, team)
    return role is not None and _RANK[Role(role)] >= _RANK[Role(minimum)]


def visible_teams(user: AnyUser) -> QuerySet[Team]:
    if is_staff(user):
        return Team.objects.all()
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user_id=user.pk).distinct()


def teams_with_role(user: AnyUser, minimum: str) -> QuerySet[Team]:
    """Teams in which the user holds at least `minimum`."""
    if is_staff(user):
        return Team.objects.all()
    if not user.is_authenticated:
        return Team.objects.none()
    roles = [role for role, rank in _RANK.items() if rank >= _RANK[Role(minimum)]]
    return Team.objects.filter(memberships__user_id=user.pk, memberships__role__in=roles).distinct()


def filter_visible(
    user: AnyUser, queryset: QuerySet[M], *, team_field: str = "team"
) -> QuerySet[M]:
    """Restrict a team-owned queryset to the rows the user may see.

    The filter is a subquery on memberships, so counts and pagination of the
    result are already correct for the user.
    """
    if is_staff(user):
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    member_of = Membership.objects.filter(user_id=user.pk).values("team_id")
    return queryset.filter(Q(**{f"{team_field}__in": member_of}))


def get_visible_or_404(
    user: AnyUser, queryset: QuerySet[M], *, team_field: str = "team", **lookup: object
) -> M:
    try:
        return filter_visible(user, queryset, team_field=team_field).get(**lookup)
    except queryset.model.DoesNotExist:  # type: ignore[attr-defined]
        raise Http404("No such object.") from None


def visible_team_or_404(user: AnyUser, name: str) -> Team:
    team = visible_teams(user).filter(name=name).first()
    if team is None:
        raise Http404("No such team.")
    return team


def require_team_role(user: AnyUser, team: Team, minimum: str) -> None:
    """For an object the user can already see: PermissionDenied (403) unless
    they hold at least `minimum` in its team."""
    if not has_team_role(user, team, minimum):
        raise PermissionDenied(f"This needs the {Role(minimum).label.lower()} role in {team.name}.")


def require_staff(user: AnyUser) -> None:
    if not is_staff(user):
        raise PermissionDenied("Only staff may do this.")


def visible_tokens(user: AnyUser) -> QuerySet[ApiToken]:
    """A token is its owner's alone, staff included: through the UI and the API
    nobody sees or revokes another user's token (staff do that in the admin console)."""
    if not user.is_authenticated:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user_id=user.pk)
