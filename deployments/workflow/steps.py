"""The steps of an operation. Each is idempotent: run twice, it leaves the same
state and makes no second commit, so a redelivered task can resume anywhere.

A step reads what earlier steps left in ``run.context`` and adds its own; the
engine saves the context in the commit that writes the step succeeded (at its
next commit point, engine._Pending), never after it. Values and manifests hold secrets, so
they go into the context encrypted."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Max

from deployments.models import (
    Instance,
    InstanceStatus,
    Operation,
    OperationKind,
    OperationState,
    Revision,
)
from deployments.targets import Change, TargetError, TargetUnavailable, target_for
from deployments.workflow.errors import StepFailed, StepTransient
from deployments.workflow.manifests import (
    manifest_problems,
    manifests_digest,
)
from deployments.workflow.rendering import instance_render
from market.models import AppVersion
from market.package import PackageRefused
from market.package.model import Package
from market.package.render import InstanceContext, RenderError, merged_values
from market.package.render_limits import RenderLimitExceeded
from market.services.fetch import ArchiveMismatch, package_load, package_loaded
from market.storage.base import StorageError, TransientStorageError
from portal.crypto import decrypt_json, encrypt_json

STEPS: dict[str, tuple[str, ...]] = {
    OperationKind.INSTALL: ("resolve", "fetch", "validate", "render", "apply", "verify", "record"),
    OperationKind.UPGRADE: ("resolve", "fetch", "validate", "render", "apply", "verify", "record"),
    OperationKind.ROLLBACK: ("resolve", "render", "apply", "verify", "record"),
    OperationKind.UNINSTALL: ("resolve", "apply", "verify", "record"),
    OperationKind.REPAIR: ("resolve", "render", "apply", "verify", "record"),
}


@dataclass
class Run:
    operation: Operation
    instance: Instance
    context: dict[str, Any]
    # Read once per attempt: resolve, fetch, validate and render all need them.
    _package: Package | None = None
    _app_version: AppVersion | None = None

    @property
    def kind(self) -> str:
        return self.operation.kind

    def change(self, *, kind: str | None = None, undo: bool = False, version: str = "") -> Change:
        # The undo of a failed operation is its own change, with an id derived
        # from the operation's so that a redelivered undo is found too.
        operation_id = uuid.uuid5(self.operation.pk, "undo") if undo else self.operation.pk
        return Change(
            operation_id=str(operation_id),
            kind=kind or self.kind,
            namespace=self.instance.namespace.name,
            instance=self.instance.name,
            app=self.instance.app_name,
            version=version or self.context.get("version") or self.instance.version or "-",
            requested_by=self.operation.requested_by or "system",
        )

    def user_values(self) -> dict[str, Any]:
        if not self.operation.values_encrypted:
            return {}
        values = decrypt_json(self.operation.values_encrypted)
        return values if isinstance(values, dict) else {}

    def app_version(self) -> AppVersion:
        if self._app_version is not None:
            return self._app_version
        row = (
            AppVersion.objects.select_related("app", "app__market")
            .filter(pk=int(self.context.get("version_id") or 0))
            .first()
        )
        if row is None:
            raise StepFailed(
                f"{self.instance.app_name} {self.context.get('version')} is no longer in"
                " its market; it was removed since the operation was queued."
            )
        self._app_version = row
        return row

    def package(self) -> Package:
        if self._package is None:
            self._package = self._read_package()
        return self._package

    def _read_package(self) -> Package:
        try:
            return package_load(version=self.app_version())
        except ArchiveMismatch as exc:
            raise StepFailed(str(exc)) from None
        except TransientStorageError as exc:
            raise StepTransient(f"market storage unreachable: {exc}") from None
        except StorageError as exc:
            raise StepFailed(f"archive unavailable: {exc}") from None
        except PackageRefused as exc:
            raise StepFailed(f"archive refused: {exc}") from None


def _dependencies_ready(run: Run) -> None:
    """Dependencies are installed by their own operations, queued with this one;
    they must have finished first. One still running means wait (retried)."""
    from deployments.workflow.engine import operation_execute

    for dep_id in run.operation.params.get("after", []):
        dep = Operation.objects.select_related("instance").filter(pk=dep_id).first()
        if dep is None:
            continue
        if dep.is_active:
            # Run it here rather than wait for its own message: it may have none
            # left (a lost enqueue) and this worker is free. If another worker holds
            # it, operation_execute returns at once and we wait for it.
            operation_execute(str(dep.pk))
            dep.refresh_from_db()
        if dep.is_active:
            raise StepTransient(f"waiting for dependency {dep.instance.name} to finish")
        if dep.state != OperationState.SUCCEEDED:
            raise StepFailed(
                f"dependency {dep.instance.name} ({dep.instance.app_name}) failed: {dep.error}"
            )


def step_resolve(run: Run) -> str:
    params = run.operation.params
    if run.kind in (OperationKind.INSTALL, OperationKind.UPGRADE):
        _dependencies_ready(run)
        run.context["version_id"] = params["version_id"]
        version = run.app_version()
        run.context["version"] = version.version
        run.context["archive_digest"] = version.digest
        return f"{version.app.name} {version.version} from market {version.app.market.name}"
    if run.kind in (OperationKind.ROLLBACK, OperationKind.REPAIR):
        revision = Revision.objects.filter(instance=run.instance, number=params["revision"]).first()
        if revision is None:
            raise StepFailed(f"revision {params['revision']} no longer exists")
        run.context["revision_id"] = revision.pk
        run.context["version"] = revision.app_version
        run.context["archive_digest"] = revision.archive_digest
        if run.kind == OperationKind.REPAIR:
            # The same revision again: recorded as itself, not as a new one.
            run.context["revision_number"] = revision.number
        return f"revision {revision.number} ({run.instance.app_name} {revision.app_version})"
    # Uninstall: a dependent installed since the request would be broken.
    dependents = [i.name for i in run.instance.dependents.filter(status=InstanceStatus.DEPLOYED)]
    if dependents and not params.get("force"):
        raise StepFailed(f"still needed by {', '.join(sorted(dependents))}")
    run.context["version"] = run.instance.version
    forced = f" (forced; dependents: {', '.join(sorted(dependents))})" if dependents else ""
    return f"remove {run.instance.namespace.name}/{run.instance.name}{forced}"


def step_fetch(run: Run) -> str:
    version = run.app_version()
    run.package()  # downloads once into the verified cache
    return f"{version.archive} {version.digest[:19]}…, {version.size} bytes, digest verified"


def step_validate(run: Run) -> str:
    package = run.package()
    merged = merged_values(package, run.user_values())
    from market.package.schema import schema_errors

    problems = schema_errors(package.values_schema, merged)
    if problems:
        raise StepFailed("values rejected: " + "; ".join(problems))
    return "values satisfy values.schema.json" if package.values_schema else "no values schema"


def _next_revision_number(run: Run) -> int:
    if "revision_number" not in run.context:
        top = run.instance.revisions.aggregate(top=Max("number"))["top"] or 0
        run.context["revision_number"] = top + 1
    return int(run.context["revision_number"])


def step_render(run: Run) -> str:
    number = _next_revision_number(run)
    if run.kind in (OperationKind.ROLLBACK, OperationKind.REPAIR):
        revision = Revision.objects.get(pk=run.context["revision_id"])
        manifests = decrypt_json(revision.manifests_encrypted)
        run.context["values"] = revision.values_encrypted
        run.context["values_masked"] = revision.values_masked
        run.context["manifests"] = revision.manifests_encrypted
        run.context["manifests_masked"] = revision.manifests_masked
        run.context["secret_paths"] = revision.secret_paths
        run.context["digest"] = manifests_digest(manifests)
        restored = len(manifests)
        if run.kind == OperationKind.REPAIR:
            return f"applies the {restored} files of revision {number} again"
        return f"restores the {restored} files of revision {revision.number} as revision {number}"
    user_values = run.user_values()
    instance = InstanceContext(
        name=run.instance.name, namespace=run.instance.namespace.name, revision=number
    )
    try:
        rendered = instance_render(run.package(), values=user_values, instance=instance)
    except RenderError as exc:
        raise StepFailed(str(exc)) from None
    except RenderLimitExceeded as exc:
        raise StepFailed(f"{exc.code}: the templates exceed a render limit: {exc}") from None
    run.context["values"] = encrypt_json({"user": user_values, "merged": rendered.merged})
    run.context["values_masked"] = rendered.values_masked
    run.context["manifests"] = encrypt_json(rendered.manifests)
    run.context["manifests_masked"] = rendered.manifests_masked
    run.context["secret_paths"] = rendered.secret_paths
    run.context["digest"] = manifests_digest(rendered.manifests)
    return f"{len(rendered.manifests)} manifest files for revision {number}"


def step_apply(run: Run) -> str:
    target = target_for(run.instance.namespace)
    try:
        if run.kind == OperationKind.UNINSTALL:
            applied = target.remove(run.change())
        else:
            applied = target.apply(run.change(), decrypt_json(run.context["manifests"]))
    except TargetUnavailable as exc:
        raise StepTransient(str(exc)) from None
    except TargetError as exc:
        raise StepFailed(str(exc)) from None
    run.context["commit"] = applied.ref
    again = "" if applied.created else " (already applied by an earlier attempt)"
    return f"{applied.summary or f'{target.name} commit {applied.ref[:12]}'}{again}"


def step_verify(run: Run) -> str:
    target = target_for(run.instance.namespace)
    namespace, name = run.instance.namespace.name, run.instance.name
    if run.kind == OperationKind.UNINSTALL:
        try:
            files = target.read(namespace, name)
        except TargetUnavailable as exc:
            raise StepTransient(str(exc)) from None
        if files:
            raise StepFailed(f"{len(files)} files of the instance are still in the target")
        return "no file of the instance is left in the target"
    manifests = decrypt_json(run.context["manifests"])
    try:
        held = target.holds(namespace, name, manifests)
    except TargetUnavailable as exc:
        raise StepTransient(str(exc)) from None
    if not held:
        raise StepFailed("the target holds other files than the ones rendered")
    # The target holds these very bytes: checking them checks what it holds.
    problems = manifest_problems(manifests, namespace=namespace)
    if problems:
        shown = "; ".join(problems[:5]) + (
            f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        )
        raise StepFailed(f"manifests a GitOps controller would refuse: {shown}")
    return f"{len(manifests)} files match the rendered ones and are Kubernetes objects"


def step_record(run: Run) -> str:
    """Writes nothing itself: the engine records the revision and the final
    states in one transaction with this step's completion (engine._succeed)."""
    if run.kind == OperationKind.UNINSTALL:
        return "instance uninstalled"
    return f"revision {run.context['revision_number']} recorded"


def step_may_wait(name: str, run: Run) -> bool:
    """Whether the step may take long: it waits on something outside this process
    (market storage, the target) or runs the package's templates (up to the render
    limits). The engine commits such a step's start before running it, so the
    operation's page shows where it is and the timeline names the step a dead
    worker was in. A fetch this process answers from memory waits on nothing."""
    if name == "fetch":
        version = run._app_version  # read by resolve in this delivery, or not yet
        return version is None or not package_loaded(version=version)
    return name in ("render", "apply")


STEP_FUNCTIONS: dict[str, Callable[[Run], str]] = {
    "resolve": step_resolve,
    "fetch": step_fetch,
    "validate": step_validate,
    "render": step_render,
    "apply": step_apply,
    "verify": step_verify,
    "record": step_record,
}
