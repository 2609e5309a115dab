"""Namespaces: where instances are installed, each owned by one team."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from deployments.models import Cluster, DeployTarget, Namespace
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
    cluster: str = "",
) -> Namespace:
    """Create a namespace owned by `team`. Names are unique site-wide because
    they become folder names in the GitOps repository, and Kubernetes namespace
    names in a cluster. A namespace bound to target ``kubernetes`` names a
    registered cluster (SPEC section 9); the Kubernetes namespace is created by the
    first install that needs it."""
    name = name.strip()
    try:
        validate_slug(name)
    except ValidationError as exc:
        raise Invalid(f"Namespace name {name!r}: {exc.messages[0]}") from None
    if target not in DeployTarget.values:
        raise Invalid(
            f"Unknown deploy target {target!r}; use one of {', '.join(DeployTarget.values)}."
        )
    bound = namespace_cluster_for(target, cluster.strip())
    with transaction.atomic():
        if Namespace.objects.filter(name=name).exists():
            raise AlreadyExists(f"A namespace named {name!r} already exists.")
        try:
            with transaction.atomic():
                namespace = Namespace.objects.create(
                    name=name,
                    team=team,
                    target=target,
                    cluster=bound,
                    description=description.strip()[:200],
                )
        except IntegrityError:
            raise AlreadyExists(f"A namespace named {name!r} already exists.") from None
        audit_record(
            actor=actor,
            action="namespace.create",
            target=namespace,
            detail={"team": team.name, "target": target}
            | ({"cluster": bound.name} if bound else {}),
        )
        index_later("namespace", [namespace.pk])
    return namespace


def namespace_cluster_for(target: str, cluster: str) -> Cluster | None:
    if target != DeployTarget.KUBERNETES:
        if cluster:
            raise Invalid(
                f"Only a namespace with target 'kubernetes' names a cluster, not {target!r}."
            )
        return None
    if not cluster:
        raise Invalid(
            "A namespace with target 'kubernetes' needs a cluster: name a registered one."
        )
    found = Cluster.objects.filter(name=cluster).first()
    if found is None:
        raise Invalid(f"No such cluster: {cluster!r}. Staff register clusters under Clusters.")
    return found


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
