"""Teams and their members. Every change is one transaction with its audit record."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from guards.slugs import validate_slug
from portal.actors import Actor
from portal.models import Membership, Role, Team
from portal.services.audit import audit_record
from portal.services.errors import AlreadyExists, Invalid, NotFound, Refused

# Names the team pages use as path segments (/teams/new/).
RESERVED_NAMES = frozenset({"new"})


def _check_name(name: str) -> str:
    name = name.strip()
    try:
        validate_slug(name)
    except ValidationError as exc:
        raise Invalid(f"Team name {name!r}: {exc.messages[0]}") from None
    if name in RESERVED_NAMES:
        raise Invalid(f"Team name {name!r} is reserved.")
    return name


def _check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(Role.values)
        raise Invalid(f"Unknown role {role!r}; use one of {choices}.") from None


def _locked(team: Team) -> Team:
    """Lock the team row so concurrent membership changes of one team queue up;
    the last-admin rule below reads and then writes, and must not interleave."""
    return Team.objects.select_for_update().get(pk=team.pk)


def team_create(*, actor: Actor, name: str, description: str = "") -> Team:
    name = _check_name(name)
    with transaction.atomic():
        if Team.objects.filter(name=name).exists():
            raise AlreadyExists(f"A team named {name!r} already exists.")
        try:
            with transaction.atomic():
                team = Team.objects.create(name=name, description=description.strip()[:200])
        except IntegrityError:
            raise AlreadyExists(f"A team named {name!r} already exists.") from None
        audit_record(
            actor=actor, action="team.create", target=team, detail={"description": team.description}
        )
    return team


def team_update(*, actor: Actor, team: Team, description: str) -> Team:
    """Change what may change: the description. The name is in URLs, tokens'
    scripts and the audit log, so it stays."""
    description = description.strip()[:200]
    with transaction.atomic():
        team = _locked(team)
        if team.description == description:
            return team
        before = team.description
        team.description = description
        team.save(update_fields=["description"])
        audit_record(
            actor=actor,
            action="team.update",
            target=team,
            detail={"description": {"from": before, "to": description}},
        )
    return team


def team_delete(*, actor: Actor, team: Team) -> None:
    """Delete a team and its memberships. Refused while it owns namespaces:
    their instances would be left without an owner."""
    with transaction.atomic():
        team = _locked(team)
        owned = list(team.namespaces.values_list("name", flat=True)[:5])
        if owned:
            raise Refused(
                f"Team {team.name!r} still owns namespaces ({', '.join(owned)}); "
                "move or delete them first."
            )
        members = list(team.memberships.values_list("user__username", flat=True))
        audit_record(actor=actor, action="team.delete", target=team, detail={"members": members})
        team.delete()


def _last_admin(user: Any, team: Team) -> str:
    return f"{user} is the last admin of {team.name}; make someone else admin first."


def _admin_count(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Role.ADMIN).count()


def membership_set(*, actor: Actor, team: Team, user: Any, role: str) -> tuple[Membership, bool]:
    """Add `user` to `team` with `role`, or change their role.

    Returns the membership and whether it was created. Setting the role a
    member already holds changes nothing and records nothing. Demoting the
    team's last admin is refused, so a team that has had an admin keeps one.
    """
    new_role = _check_role(role)
    if not getattr(user, "is_active", False):
        raise Invalid(f"User {user} is inactive.")
    with transaction.atomic():
        team = _locked(team)
        membership = Membership.objects.filter(team=team, user=user).first()
        if membership is None:
            membership = Membership.objects.create(team=team, user=user, role=new_role)
            audit_record(
                actor=actor,
                action="membership.add",
                target=team,
                detail={"username": user.get_username(), "role": new_role.value},
            )
            return membership, True
        if membership.role == new_role:
            return membership, False
        if membership.role == Role.ADMIN and _admin_count(team) == 1:
            raise Refused(
                f"{user} is the last admin of {team.name}; make someone else admin first."
            )
        before = membership.role
        membership.role = new_role
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            action="membership.change",
            target=team,
            detail={"username": user.get_username(), "role": new_role.value, "previous": before},
        )
    return membership, False


def membership_remove(*, actor: Actor, team: Team, user: Any) -> None:
    """Remove `user` from `team`. The last admin stays: removing them would
    leave the team to staff alone."""
    with transaction.atomic():
        team = _locked(team)
        membership = Membership.objects.filter(team=team, user=user).first()
        if membership is None:
            raise NotFound(f"{user} is not a member of {team.name}.")
        if membership.role == Role.ADMIN and _admin_count(team) == 1:
            raise Refused(
                f"{user} is the last admin of {team.name}; make someone else admin first."
            )
        membership.delete()
        audit_record(
            actor=actor,
            action="membership.remove",
            target=team,
            detail={"username": user.get_username(), "role": membership.role},
        )
