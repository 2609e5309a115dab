"""Namespaces: where instances are installed, each owned by one team."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from deployments.models import DeployTarget, Namespace
from guards.slugs import validate_slug
from portal.actors import Actor
from portal.models import Team
from portal.services.audit import audit_record
from portal.services.errors import AlreadyExists, Invalid, Refused
from search.services.indexing import index_later


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
        validate_slug(name)
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
        index_later("namespace", [namespace.pk])
    return namespace


def namespace_update(
    *, actor: Actor, namespace: Namespace, team: Team | None = None, description: str | None = None
) -> Namespace:
    """Change the owning team (an administrator's move) or the description.
    The name and target stay: they are folder names in the GitOps repository."""
    with transaction.atomic():
        namespace = (
            Namespace.objects.select_for_update().select_related("team").get(pk=namespace.pk)
        )
        changes: dict[str, dict[str, str]] = {}
        if team is not None and team.pk != namespace.team_id:
            changes["team"] = {"from": namespace.team.name, "to": team.name}
            namespace.team = team
        if description is not None and description.strip()[:200] != namespace.description:
            new = description.strip()[:200]
            changes["description"] = {"from": namespace.description, "to": new}
            namespace.description = new
        if not changes:
            return namespace
        namespace.save(update_fields=["team", "description"])
        audit_record(actor=actor, action="namespace.update", target=namespace, detail=changes)
        index_later("namespace", [namespace.pk])
        # Its instances carry the owning team for the permission filter.
        index_later("instance", namespace.instances.values_list("pk", flat=True))
    return namespace


def namespace_delete(*, actor: Actor, namespace: Namespace) -> None:
    """Delete an empty namespace. Whatever is installed in it protects it
    (on_delete=PROTECT), so this fails loudly rather than orphaning instances."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="namespace.delete",
            target=namespace,
            detail={"team": namespace.team.name},
        )
        index_later("namespace", [namespace.pk])
        try:
            namespace.delete()
        except ProtectedError:
            raise Refused(
                f"Namespace {namespace.name!r} still holds instances; uninstall them first."
            ) from None
