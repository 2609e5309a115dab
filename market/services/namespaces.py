"""Namespaces: where instances are installed, each owned by one team."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from market.models import DeployTarget, Namespace
from portal.actors import Actor
from portal.models import Team, slug_validator
from portal.services.audit import audit_record
from portal.services.errors import AlreadyExists, Invalid


def namespace_create(
    *,
    actor: Actor,
    team: Team,
    name: str,
    description: str = "",
    target: str = DeployTarget.GITOPS,
) -> Namespace:
    """Create a namespace owned by `team`. Names are unique site-wide because
    they become folder names in the GitOps repository."""
    name = name.strip()
    try:
        slug_validator(name)
    except ValidationError as exc:
        raise Invalid(f"Namespace name {name!r}: {exc.messages[0]}") from None
    if target not in DeployTarget.values:
        raise Invalid(
            f"Unknown deploy target {target!r}; use one of {', '.join(DeployTarget.values)}."
        )
    with transaction.atomic():
        if Namespace.objects.filter(name=name).exists():
            raise AlreadyExists(f"A namespace named {name!r} already exists.")
        try:
            with transaction.atomic():
                namespace = Namespace.objects.create(
                    name=name, team=team, target=target, description=description.strip()[:200]
                )
        except IntegrityError:
            raise AlreadyExists(f"A namespace named {name!r} already exists.") from None
        audit_record(
            actor=actor,
            action="namespace.create",
            target=namespace,
            detail={"team": team.name, "target": target},
        )
    return namespace
