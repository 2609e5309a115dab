"""Asking for install, upgrade, rollback and uninstall (SPEC section 5).

Each service checks everything it can before writing — permissions, the
version, the dependency plan, the values against the schema, the task queue —
so a bad request answers with every problem and leaves nothing behind. Then one
transaction writes the instance, the operations and the audit record, and the
engine's task is queued only after that transaction commits."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments.models import (
    ACTIVE_OPERATION_STATES,
    Instance,
    InstanceStatus,
    Namespace,
    Operation,
    OperationKind,
    OperationStep,
    Revision,
)
from deployments.selectors.dependents import Dependent, dependents_broken_by
from deployments.workflow.resolve import install_plan, version_resolve
from deployments.workflow.steps import STEPS
from guards.slugs import validate_slug
from market.models import AppVersion, Market
from market.package import PackageRefused
from market.package.model import Package
from market.package.render import deep_merge, merged_values
from market.package.schema import schema_errors
from market.package.secrets import MASK, unmask_secrets
from market.services.fetch import ArchiveMismatch, package_load
from market.storage.base import StorageError, TransientStorageError
from portal.actors import Actor
from portal.crypto import decrypt_json, encrypt_json
from portal.models import Role
from portal.permissions import has_team_role
from portal.queue import enqueue_on_commit, queue_available
from portal.services.audit import audit_record
from portal.services.errors import AlreadyExists, Forbidden, Invalid, Refused, Unavailable
from search.services.indexing import index_later

log = logging.getLogger(__name__)

INSTANCE_NAME_MAX = 53
# Statuses from which a name may be installed again: a failed first install and
# an uninstalled instance keep their row (history) but hold nothing.
REINSTALLABLE = (InstanceStatus.FAILED, InstanceStatus.UNINSTALLED)


class ValuesRejected(Invalid):
    """The values break values.schema.json; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("values rejected: " + "; ".join(errors))


@dataclass
class Requested:
    instance: Instance
    operation: Operation
    dependencies: list[Operation] = field(default_factory=list)


def require_operator(actor: Actor, namespace: Namespace) -> None:
    if not has_team_role(actor.user, namespace.team, Role.OPERATOR):
        raise Forbidden(f"This needs the operator role in team {namespace.team.name}.")


def _require_queue() -> None:
    if not queue_available():
        raise Unavailable("The task queue is unreachable; nothing was changed. Try again shortly.")


def package_for(version: AppVersion) -> Package:
    """The verified package, for checking values before anything is queued."""
    try:
        return package_load(version=version)
    except TransientStorageError as exc:
        raise Unavailable(f"Market {version.app.market.name} is unreachable: {exc}") from None
    except (StorageError, ArchiveMismatch) as exc:
        raise Invalid(f"{version.app.name} {version.version} cannot be fetched: {exc}") from None
    except PackageRefused as exc:
        raise Invalid(f"{version.app.name} {version.version} is refused: {exc}") from None


def check_values(package: Package, values: Any, *, stored: Any = None) -> dict[str, Any]:
    """The values to use: every mask sent for a secret replaced by the secret in
    ``stored`` (the current merged values), then checked against the schema. The one
    place install, upgrade and the dry run (API and forms alike) accept values."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValuesRejected(["values must be a mapping of names to values"])
    values, unknown = unmask_secrets(values, stored, package.secret_paths())
    if unknown:
        raise ValuesRejected(
            [f"{path}: {MASK} stands for the stored secret, and none is stored" for path in unknown]
        )
    problems = schema_errors(package.values_schema, merged_values(package, values))
    if problems:
        raise ValuesRejected(problems)
    return values


def instance_name_check(name: str) -> str:
    """The instance name, stripped; Invalid when it breaks the naming rule."""
    name = (name or "").strip()
    if not name:
        raise Invalid("An instance needs a name.")
    if len(name) > INSTANCE_NAME_MAX:
        raise Invalid(f"Instance name {name!r} is longer than {INSTANCE_NAME_MAX} characters.")
    try:
        validate_slug(name)
    except Exception:
        raise Invalid(
            f"Instance name {name!r} must be lowercase letters, digits and dashes."
        ) from None
    return name


def _create_operation(
    *,
    instance: Instance,
    kind: str,
    actor: Actor,
    params: dict[str, Any],
    values: dict[str, Any] | None = None,
    from_revision: Revision | None = None,
) -> Operation:
    """Inside the caller's transaction. The partial unique index refuses a second
    active operation on the instance, whoever races for it."""
    try:
        with transaction.atomic():
            operation = Operation.objects.create(
                instance=instance,
                kind=kind,
                requested_by=actor.label,
                params=params,
                values_encrypted=encrypt_json(values) if values is not None else "",
                from_revision=from_revision,
            )
    except IntegrityError:
        raise Refused(
            f"Instance {instance.namespace.name}/{instance.name} has an operation in progress;"
            " wait for it to finish."
        ) from None
    OperationStep.objects.bulk_create(
        OperationStep(operation=operation, position=i, name=name)
        for i, name in enumerate(STEPS[kind])
    )
    return operation


def _enqueue_on_commit(operation: Operation) -> None:
    from deployments.tasks import operation_run_task

    enqueue_on_commit(operation_run_task, str(operation.pk), queue=settings.WORKFLOW_QUEUE)


def instance_name_taken(instance: Instance | None, *, app: str) -> str:
    """Why ``instance`` (the row holding the wanted name, if any) keeps an install of
    ``app`` from taking its name; "" when the name is free or may be reused."""
    if instance is None:
        return ""
    where = f"{instance.namespace.name}/{instance.name}"
    if instance.status not in REINSTALLABLE:
        return (
            f"Instance {where} already exists ({instance.status});"
            " upgrade it or choose another name."
        )
    if instance.app_name != app and instance.status != InstanceStatus.UNINSTALLED:
        return (
            f"Instance {where} is a failed {instance.app_name};"
            " install that app again or uninstall it first."
        )
    return ""


def _take_instance(
    *, namespace: Namespace, name: str, version: AppVersion, actor: Actor
) -> Instance:
    """A new instance row, or the row of a failed or uninstalled one of that name."""
    instance = Instance.objects.select_for_update().filter(namespace=namespace, name=name).first()
    now = timezone.now()
    if instance is None:
        try:
            with transaction.atomic():
                return Instance.objects.create(
                    namespace=namespace,
                    name=name,
                    market=version.app.market,
                    app_name=version.app.name,
                    version=version.version,
                    status=InstanceStatus.INSTALLING,
                    created_by=actor.label,
                )
        except IntegrityError:
            raise AlreadyExists(f"Instance {namespace.name}/{name} already exists.") from None
    taken = instance_name_taken(instance, app=version.app.name)
    if taken:
        raise AlreadyExists(taken)
    instance.market = version.app.market
    instance.app_name = version.app.name
    instance.version = version.version
    instance.status = InstanceStatus.INSTALLING
    instance.status_message = ""
    instance.current_revision = None
    instance.updated_at = now
    instance.save()
    instance.depends_on.clear()
    return instance


def instance_install(
    *,
    actor: Actor,
    namespace: Namespace,
    name: str,
    market: Market,
    app: str,
    version: str | None = None,
    values: Any = None,
    allow_yanked: bool = False,
) -> Requested:
    """Install ``app`` from ``market`` as ``namespace/name``, after any missing
    dependencies (each its own instance, named after its app, installed first).
    A yanked ``version`` is refused (VersionYanked) unless ``allow_yanked``.

    Steps: check role, name, version and dependency plan; fetch the package and
    check the values; check the queue; then in one transaction create or reuse
    the instances, one operation each, the dependency links and the audit
    record; queue the root operation on commit (it runs its dependencies first)."""
    require_operator(actor, namespace)
    name = instance_name_check(name)
    root = version_resolve(market=market, app=app, version=version, allow_yanked=allow_yanked)
    plan = install_plan(namespace=namespace, root=root)
    user_values = check_values(package_for(root), values)
    for dependency in plan.missing:
        package_for(dependency)  # fetched now: a broken dependency fails the request
    _require_queue()
    with transaction.atomic():
        instance = _take_instance(namespace=namespace, name=name, version=root, actor=actor)
        by_app: dict[str, Instance] = {i.app_name: i for i in plan.present}
        dependency_operations = []
        for dependency in plan.missing:
            dep_name = dependency.app.name
            if dep_name == name:
                raise Invalid(f"Dependency {dep_name} would take the instance's own name.")
            dep_instance = _take_instance(
                namespace=namespace, name=dep_name, version=dependency, actor=actor
            )
            by_app[dep_name] = dep_instance
            dependency_operations.append(
                _create_operation(
                    instance=dep_instance,
                    kind=OperationKind.INSTALL,
                    actor=actor,
                    params={"version_id": dependency.pk, "dependency_of": name},
                    values={},
                )
            )
        by_app[root.app.name] = instance
        for app_name, needs in plan.needs.items():
            by_app[app_name].depends_on.add(*[by_app[n] for n in needs if n in by_app])
        operation = _create_operation(
            instance=instance,
            kind=OperationKind.INSTALL,
            actor=actor,
            params={
                "version_id": root.pk,
                "after": [str(op.pk) for op in dependency_operations],
            },
            values=user_values,
        )
        Operation.objects.filter(pk__in=[op.pk for op in dependency_operations]).update(
            caused_by=operation
        )
        for dependency_operation in dependency_operations:
            dependency_operation.caused_by = operation
        audit_record(
            actor=actor,
            action="instance.install",
            target=instance,
            detail={
                "app": root.app.name,
                "market": market.name,
                "version": root.version,
                "operation": str(operation.pk),
                "dependencies": [d.app.name + "@" + d.version for d in plan.missing],
                **({"yanked": root.yanked} if root.yanked else {}),
            },
        )
        # Dependencies present before keep their status: indexed again all the same,
        # in one batch, so their pages show the new dependent.
        index_later("instance", [changed.pk for changed in by_app.values()])
        _enqueue_on_commit(operation)
    return Requested(instance=instance, operation=operation, dependencies=dependency_operations)


def operation_values(operation: Operation) -> dict[str, Any]:
    """The values the user gave to ``operation`` (secrets included: for a form that
    never shows them and keeps them when left blank)."""
    if not operation.values_encrypted:
        return {}
    values = decrypt_json(operation.values_encrypted)
    return values if isinstance(values, dict) else {}


def current_user_values(instance: Instance) -> dict[str, Any]:
    """The values the user gave (not the defaults) at the current revision."""
    revision = instance.current_revision
    if revision is None:
        return {}
    stored = decrypt_json(revision.values_encrypted)
    user = stored.get("user", {}) if isinstance(stored, dict) else {}
    return user if isinstance(user, dict) else {}


def _current_merged_values(instance: Instance) -> dict[str, Any]:
    """Defaults and user values together at the current revision: where a secret sent
    back masked is found (it may have come from the defaults)."""
    revision = instance.current_revision
    stored = decrypt_json(revision.values_encrypted) if revision is not None else {}
    merged = stored.get("merged", {}) if isinstance(stored, dict) else {}
    return merged if isinstance(merged, dict) else {}


class BreaksDependents(Refused):
    """The change would leave present instances outside the range they need of this
    one (SPEC section 11); ``force`` proceeds, and the audit record names them."""

    code = "breaks_dependents"

    def __init__(self, message: str, dependents: list[Dependent]) -> None:
        super().__init__(message)
        self.dependents = dependents
        self.extra = {"dependents": [d.as_dict() for d in dependents]}


def _refuse_breaking(
    *, instance: Instance, version: str | None, force: bool, change: str
) -> list[Dependent]:
    """The dependents the change breaks; raises BreaksDependents unless ``force``."""
    broken = dependents_broken_by(instance=instance, version=version)
    if broken and not force:
        raise BreaksDependents(
            f"{change} of {instance} would break {'; '.join(map(str, broken))}."
            " Change those first, or force it.",
            broken,
        )
    return broken


def _refuse_if_busy(instance: Instance) -> None:
    active = instance.operations.filter(state__in=ACTIVE_OPERATION_STATES).first()
    if active is not None:
        raise Refused(
            f"Instance {instance} has an operation in progress ({active.kind}, {active.state});"
            " wait for it to finish."
        )


def _upgrade_target(
    *,
    instance: Instance,
    version: str | None,
    values: Any,
    reuse_values: bool,
    allow_yanked: bool = False,
) -> tuple[AppVersion, dict[str, Any]]:
    _refuse_if_busy(instance)
    if instance.status != InstanceStatus.DEPLOYED or instance.current_revision is None:
        raise Refused(
            f"Instance {instance} is {instance.status}; only a deployed instance can be upgraded."
        )
    # Reconfiguring the version the instance already runs is not installing a
    # yanked version anew: allowed without force.
    target = version_resolve(
        market=instance.market,
        app=instance.app_name,
        version=version,
        allow_yanked=allow_yanked or version == instance.version,
    )
    if values is not None and not isinstance(values, dict):
        raise ValuesRejected(["values must be a mapping of names to values"])
    base = current_user_values(instance) if reuse_values else {}
    new_values = check_values(
        package_for(target),
        deep_merge(base, values or {}),
        stored=_current_merged_values(instance),
    )
    return target, new_values


def instance_upgrade(
    *,
    actor: Actor,
    instance: Instance,
    version: str | None = None,
    values: Any = None,
    reuse_values: bool = True,
    force: bool = False,
    allow_yanked: bool = False,
) -> Requested:
    """Upgrade (or reconfigure) to ``version`` (default: the latest not yanked). The
    given values are merged onto the ones the user gave before unless
    ``reuse_values`` is off, so an omitted secret keeps its value. A version outside
    a dependent's range is refused unless ``force``; a yanked one unless
    ``allow_yanked``."""
    require_operator(actor, instance.namespace)
    target, new_values = _upgrade_target(
        instance=instance,
        version=version,
        values=values,
        reuse_values=reuse_values,
        allow_yanked=allow_yanked,
    )
    broken = _refuse_breaking(
        instance=instance, version=target.version, force=force, change="An upgrade"
    )
    _require_queue()
    return _queue_operation(
        actor=actor,
        instance=instance,
        kind=OperationKind.UPGRADE,
        status=InstanceStatus.UPGRADING,
        allowed=(InstanceStatus.DEPLOYED,),
        params={"version_id": target.pk},
        values=new_values,
        detail={
            "from": instance.version,
            "to": target.version,
            **_forced(force, broken),
            **({"yanked": target.yanked} if target.yanked else {}),
        },
    )


def _forced(force: bool, broken: list[Dependent]) -> dict[str, Any]:
    """What the audit record says of a forced change (nothing when nothing broke)."""
    if not broken:
        return {}
    return {"force": force, "dependents": [d.as_dict() for d in broken]}


def _queue_operation(
    *,
    actor: Actor,
    instance: Instance,
    kind: str,
    status: str,
    allowed: tuple[str, ...],
    params: dict[str, Any],
    detail: dict[str, Any],
    values: dict[str, Any] | None = None,
) -> Requested:
    """One transaction for an operation on an existing instance: move its status
    (compare-and-set), create the operation from its current revision, write the
    audit record, and queue the task once it commits."""
    with transaction.atomic():
        _set_status(instance, status, allowed=allowed)
        operation = _create_operation(
            instance=instance,
            kind=kind,
            actor=actor,
            params=params,
            values=values,
            from_revision=instance.current_revision,
        )
        audit_record(
            actor=actor,
            action=f"instance.{kind}",
            target=instance,
            detail={**detail, "operation": str(operation.pk)},
        )
        index_later("instance", [instance.pk])
        _enqueue_on_commit(operation)
    return Requested(instance=instance, operation=operation)


def _set_status(instance: Instance, status: str, *, allowed: tuple[str, ...]) -> None:
    """Compare-and-set, so two requests racing on one instance cannot both pass."""
    changed = Instance.objects.filter(pk=instance.pk, status__in=allowed).update(
        status=status, updated_at=timezone.now()
    )
    if changed != 1:
        raise Refused(f"Instance {instance} has an operation in progress; wait for it to finish.")
    instance.status = status


def instance_rollback(
    *, actor: Actor, instance: Instance, revision: int, force: bool = False
) -> Requested:
    """Restore the manifests and values of an earlier revision, as a new revision.
    A version outside a dependent's range is refused unless ``force``."""
    require_operator(actor, instance.namespace)
    _refuse_if_busy(instance)
    if instance.status != InstanceStatus.DEPLOYED or instance.current_revision is None:
        raise Refused(f"Instance {instance} is {instance.status}; only a deployed one rolls back.")
    target = instance.revisions.filter(number=revision).first()
    if target is None:
        raise Invalid(f"Instance {instance} has no revision {revision}.")
    broken = _refuse_breaking(
        instance=instance, version=target.app_version, force=force, change="A rollback"
    )
    _require_queue()
    return _queue_operation(
        actor=actor,
        instance=instance,
        kind=OperationKind.ROLLBACK,
        status=InstanceStatus.UPGRADING,
        allowed=(InstanceStatus.DEPLOYED,),
        params={"revision": target.number},
        detail={"to_revision": target.number, **_forced(force, broken)},
    )


def instance_repair(*, actor: Actor, instance: Instance) -> Requested:
    """Apply the current revision again (SPEC section 9): objects changed by hand get
    the applied fields back, deleted ones come back. No new revision."""
    require_operator(actor, instance.namespace)
    _refuse_if_busy(instance)
    if instance.status != InstanceStatus.DEPLOYED or instance.current_revision is None:
        raise Refused(f"Instance {instance} is {instance.status}; only a deployed one is repaired.")
    _require_queue()
    revision = instance.current_revision.number
    return _queue_operation(
        actor=actor,
        instance=instance,
        kind=OperationKind.REPAIR,
        status=InstanceStatus.UPGRADING,
        allowed=(InstanceStatus.DEPLOYED,),
        params={"revision": revision},
        detail={"revision": revision},
    )


def instance_uninstall(*, actor: Actor, instance: Instance, force: bool = False) -> Requested:
    """Remove everything the instance applied. Refused while deployed instances
    depend on it, unless ``force``."""
    require_operator(actor, instance.namespace)
    _refuse_if_busy(instance)
    if instance.status == InstanceStatus.UNINSTALLED:
        raise Refused(f"Instance {instance} is already uninstalled.")
    broken = _refuse_breaking(instance=instance, version=None, force=force, change="An uninstall")
    _require_queue()
    return _queue_operation(
        actor=actor,
        instance=instance,
        kind=OperationKind.UNINSTALL,
        status=InstanceStatus.UNINSTALLING,
        allowed=(InstanceStatus.DEPLOYED, InstanceStatus.FAILED),
        params={"force": force},
        detail={"force": force, "dependents": [d.as_dict() for d in broken]},
    )
