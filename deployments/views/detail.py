"""The instance page, the live steps of an operation, the diff of two revisions and
what a rollback would change."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from deployments.models import Instance, InstanceStatus, Operation, OperationKind, OperationState
from deployments.selectors.changes import values_yaml
from deployments.selectors.dependents import Dependent, dependency_need, dependents_broken_by
from deployments.selectors.instance_pages import instance_app, revision_rows
from deployments.selectors.instances import (
    instance_get,
    instance_operations,
    instance_resources,
    operation_get,
    revision_diff,
    upgrade_available,
    with_active_operation,
)
from deployments.selectors.live_pages import LiveResources, instance_live_view, is_on_cluster
from deployments.selectors.operation_blame import operation_value_paths
from deployments.selectors.operations import operation_card
from deployments.views.common import breadcrumbs
from market.selectors.advisories import version_flags
from portal.models import Role
from portal.permissions import has_team_role

# Whose objects should be in the cluster: what the live state looks at.
LIVE_STATUSES = (InstanceStatus.DEPLOYED, InstanceStatus.UPGRADING)
TABS = ("values", "resources", "manifests", "revisions", "operations", "dependencies", "metrics")


def steps_url(operation: Operation) -> str:
    instance = operation.instance
    return reverse(
        "instance-operation-steps", args=[instance.namespace.name, instance.name, operation.pk]
    )


def _live(request: HttpRequest, instance: Instance) -> LiveResources | None:
    """The Resources tab of an instance on a cluster: its objects as last seen there
    (looked at again on ``?refresh=1``). None for GitOps, whose tab lists the files,
    and while nothing is meant to be applied (installing, failed, uninstalled)."""
    if not is_on_cluster(instance) or instance.status not in LIVE_STATUSES:
        return None
    return instance_live_view(instance, refresh=request.GET.get("refresh") == "1")


def _shown_operation(operations: list[Operation], wanted: str) -> Operation | None:
    """The operation asked for, else the one in progress, else the latest."""
    chosen = next((op for op in operations if str(op.pk) == wanted), None)
    return (
        chosen
        or next((op for op in operations if op.is_active), None)
        or (operations[0] if operations else None)
    )


@login_required
@require_safe
def instance_detail_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    instance = instance_get(user=request.user, namespace=namespace, name=name)
    app = instance_app(instance)
    latest = app.latest if app else None
    revision = instance.current_revision
    operations = instance_operations(instance)
    shown = _shown_operation(operations, request.GET.get("operation", ""))
    dependents = list(with_active_operation(instance.dependents.select_related("namespace")))
    # An operator may change the instance only while no operation runs on it.
    can_change = has_team_role(request.user, instance.namespace.team, Role.OPERATOR) and not any(
        op.is_active for op in operations
    )
    deployed = instance.status == InstanceStatus.DEPLOYED and revision is not None
    tab = request.GET.get("tab", "")
    revisions = revision_rows(instance)
    breaks: dict[str, list[Dependent]] = {}
    for row in revisions:
        version = row["revision"].app_version
        if version not in breaks:
            breaks[version] = dependents_broken_by(instance=instance, version=version)
        # Rolling back to a version outside a dependent's range: the dialog says
        # so, and confirming it is the explicit force the service asks for.
        row["breaks"] = breaks[version]
        row["fields"] = {"revision": row["revision"].number}
        if row["breaks"]:
            row["fields"]["force"] = "1"
    depends_on = list(with_active_operation(instance.depends_on.select_related("namespace")))
    # Each link with the range it rests on and whether the versions running now
    # still meet it: a forced change shows here as a broken link.
    for dependency in depends_on:
        dependency.need = dependency_need(instance, dependency)  # type: ignore[attr-defined]
    for dependent in dependents:
        dependent.need = dependency_need(dependent, instance)  # type: ignore[attr-defined]
    can_reinstall = can_change and instance.status in (
        InstanceStatus.FAILED,
        InstanceStatus.UNINSTALLED,
    )
    # A failed install: which values it is about, and "Edit values and retry" from them.
    failed_install = next(
        (op for op in operations if op.kind == OperationKind.INSTALL and not op.is_active), None
    )
    if instance.status != InstanceStatus.FAILED or (
        failed_install
        and failed_install.state not in (OperationState.FAILED, OperationState.ROLLED_BACK)
    ):
        failed_install = None
    live = _live(request, instance)
    resources = instance_resources(instance) if live is None else []
    context: dict[str, Any] = {
        "live": live,
        "on_cluster": is_on_cluster(instance),
        "can_repair": can_change and deployed and live is not None,
        "failed_install": failed_install,
        "failed_paths": operation_value_paths(failed_install) if failed_install else [],
        "instance": instance,
        "breadcrumbs": breadcrumbs(instance),
        "app": app,
        "upgrade_to": latest if upgrade_available(instance.version, latest) else "",
        "flags": version_flags(instance),
        "revision": revision,
        "values_text": values_yaml(revision.values_masked) if revision else "",
        "resources": resources,
        "resource_count": live.count if live else len(resources),
        "manifests": sorted(revision.manifests_masked.items()) if revision else [],
        "revisions": revisions,
        "operations": operations,
        "shown": shown,
        "card": operation_card(shown) if shown else None,
        "steps_url": steps_url(shown) if shown else "",
        "depends_on": depends_on,
        "dependents": dependents,
        "dependency_count": len(depends_on) + len(dependents),
        "uninstall_breaks": dependents_broken_by(instance=instance, version=None),
        "can_upgrade": can_change and deployed,
        "can_rollback": can_change and deployed,
        "can_uninstall": can_change and instance.status != InstanceStatus.UNINSTALLED,
        "can_reinstall": can_reinstall,
        "active_tab": tab if tab in TABS else "",
    }
    return render(request, "deployments/detail.html", context)


@login_required
@require_safe
def operation_steps_view(
    request: HttpRequest, namespace: str, name: str, operation_id: str
) -> HttpResponse:
    """The live card of one operation (badge, progress, steps, chart, dependency
    installs) and the instance's status badge, polled by the instance page while
    the operation runs. Once it has finished, a polling page is told to reload, so
    its revisions and values show the outcome too."""
    operation = operation_get(user=request.user, operation_id=operation_id)
    instance = instance_get(user=request.user, namespace=namespace, name=name)
    if operation.instance_id != instance.pk:
        raise Http404("No such operation on this instance.")
    response = render(
        request,
        "deployments/_operation_live.html",
        {
            "card": operation_card(operation),
            "instance": instance,
            "steps_url": steps_url(operation),
        },
    )
    if request.headers.get("HX-Request") and not operation.is_active:
        response["HX-Refresh"] = "true"
    return response


def _number(value: str | None) -> int | None:
    """A revision number from the query string, or None. Bounded: a number past
    the database's integer raised OverflowError (a 500) in the lookup."""
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**31 else None


@login_required
@require_safe
def revision_diff_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    instance = instance_get(user=request.user, namespace=namespace, name=name)
    rows = revision_rows(instance)
    if not rows:
        raise Http404("This instance has no revisions.")
    new = _number(request.GET.get("to")) or rows[0]["revision"].number
    old = _number(request.GET.get("from"))
    if old is None:
        old = next((r["previous"] for r in rows if r["revision"].number == new), None) or new
    diff = revision_diff(instance=instance, old=old, new=new)
    context = {
        "instance": instance,
        "breadcrumbs": breadcrumbs(instance, "Diff"),
        "diff": diff,
        "title": f"Revision {old} → {new}",
        "numbers": [r["revision"].number for r in rows],
    }
    return render(request, "deployments/diff.html", context)


@login_required
@require_safe
def rollback_changes_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    """`rollback/changes/?revision=N`: what rolling back to revision N changes, from the
    current revision (version, files, values; secrets masked). The rollback dialog
    loads it when it opens: computed for the one revision asked about, not for every
    row of the revisions table."""
    instance = instance_get(user=request.user, namespace=namespace, name=name)
    current = instance.current_revision
    target = _number(request.GET.get("revision"))
    if current is None or target is None:
        raise Http404("No such revision.")
    diff = revision_diff(instance=instance, old=current.number, new=target)
    return render(
        request, "deployments/_rollback_changes.html", {"instance": instance, "diff": diff}
    )
