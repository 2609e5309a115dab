"""Small factories for the whole suite. Plain functions: no factory library needed."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model

from deployments.models import Namespace
from portal.models import Membership, Team

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery-staple"


def make_user(username: str | None = None, *, staff: bool = False, **extra: Any) -> Any:
    User = get_user_model()
    name = username or f"user{next(_seq)}"
    return User.objects.create_user(
        username=name,
        password=PASSWORD,
        email=f"{name}@example.org",
        is_staff=staff,
        is_superuser=staff,
        **extra,
    )


def make_team(name: str | None = None, *, members: dict[Any, str] | None = None) -> Team:
    team = Team.objects.create(name=name or f"team-{next(_seq)}")
    for user, role in (members or {}).items():
        Membership.objects.create(team=team, user=user, role=role)
    return team


def make_namespace(team: Team, name: str | None = None) -> Namespace:
    return Namespace.objects.create(team=team, name=name or f"ns-{next(_seq)}")


def make_token(user: Any, name: str | None = None, *, days: int | None = 90) -> str:
    """A live API token for `user`; returns the secret to send as `Bearer <secret>`."""
    from portal.actors import Actor
    from portal.services.tokens import token_create

    issued = token_create(
        actor=Actor.system(), user=user, name=name or f"token-{next(_seq)}", days=days
    )
    return issued.secret
