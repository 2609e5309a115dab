"""Reads about users and their API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404

from portal.models import ApiToken
from portal.permissions import AnyUser, visible_tokens


def user_by_username(username: str) -> Any | None:
    """The active user called `username`, or None."""
    User = get_user_model()
    return User.objects.filter(**{User.USERNAME_FIELD: username.strip()}, is_active=True).first()


def token_list(*, user: AnyUser) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first."""
    return visible_tokens(user).order_by("-created_at", "-id")


def token_get(*, user: AnyUser, token_id: int) -> ApiToken:
    """One of the user's own tokens; Http404 for anyone else's."""
    token = visible_tokens(user).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    return token
