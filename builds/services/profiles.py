"""Creating, changing and deleting resource profiles (staff only), audited."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from builds.lint import VALID_HOST_RE
from builds.models import ResourceProfile
from builds.selectors import check_variables
from guards.slugs import validate_slug
from portal.actors import Actor
from portal.permissions import is_staff
from portal.services.audit import audit_record
from portal.services.errors import AlreadyExists, Forbidden, Invalid


def _check_hosts(hosts: Iterable[str]) -> list[str]:
    checked: list[str] = []
    for raw in hosts:
        host = str(raw).strip().lower().rstrip(".")
        if not host:
            continue
        bare = host[2:] if host.startswith("*.") else host
        if not VALID_HOST_RE.match(bare):
            raise Invalid(f"allowed hosts: {host[:100]!r} is not a host name (or *.domain)")
        checked.append(host)
    return sorted(set(checked))


def _require_staff(actor: Actor) -> None:
    if actor.user is not None and not is_staff(actor.user):
        raise Forbidden("only staff may change resource profiles")


def profile_create(
    *,
    actor: Actor,
    name: str,
    description: str = "",
    values: Mapping[str, str] | None = None,
    allowed_hosts: Iterable[str] = (),
) -> ResourceProfile:
    _require_staff(actor)
    try:
        validate_slug(name)
    except ValidationError as exc:
        raise Invalid(f"name: {'; '.join(exc.messages)}") from None
    checked = check_variables(values or {}, what="values")
    hosts = _check_hosts(allowed_hosts)
    try:
        with transaction.atomic():
            profile = ResourceProfile.objects.create(
                name=name, description=description, values=checked, allowed_hosts=hosts
            )
            audit_record(
                actor=actor,
                action="resource_profile.create",
                target=profile,
                detail={"values": checked, "allowed_hosts": hosts},
            )
    except IntegrityError:
        raise AlreadyExists(f"a resource profile named {name} already exists") from None
    return profile


def profile_update(
    *,
    actor: Actor,
    profile: ResourceProfile,
    description: str,
    values: Mapping[str, str],
    allowed_hosts: Iterable[str],
) -> ResourceProfile:
    _require_staff(actor)
    checked = check_variables(values, what="values")
    hosts = _check_hosts(allowed_hosts)
    with transaction.atomic():
        before = {"values": profile.values, "allowed_hosts": profile.allowed_hosts}
        profile.description = description
        profile.values = checked
        profile.allowed_hosts = hosts
        profile.updated_at = timezone.now()
        profile.save()
        audit_record(
            actor=actor,
            action="resource_profile.update",
            target=profile,
            detail={"before": before, "after": {"values": checked, "allowed_hosts": hosts}},
        )
    return profile


def profile_delete(*, actor: Actor, profile: ResourceProfile) -> None:
    _require_staff(actor)
    with transaction.atomic():
        audit_record(actor=actor, action="resource_profile.delete", target=profile)
        profile.delete()
