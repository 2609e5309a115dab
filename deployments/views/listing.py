"""`/instances/`: the instances the user may see, filtered, and their namespaces."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from deployments.forms import InstanceNamespaceForm
from deployments.models import InstanceStatus
from deployments.selectors.instance_pages import instance_filter_choices
from deployments.selectors.instances import instance_list, upgrade_available
from deployments.selectors.namespaces import namespace_list
from deployments.services.namespaces import namespace_create
from deployments.views.common import safe_next
from portal.actors import actor_from_request
from portal.models import Role
from portal.permissions import teams_with_role
from portal.services.errors import ServiceError


def _render(
    request: HttpRequest, namespace_form: InstanceNamespaceForm | None = None, status: int = 200
) -> HttpResponse:
    user = request.user
    choices = instance_filter_choices(user=user)
    filters = {
        "namespace": request.GET.get("namespace", ""),
        "app": request.GET.get("app", ""),
        "status": request.GET.get("status", ""),
    }
    # An unknown choice filters nothing rather than everything.
    if filters["status"] not in InstanceStatus.values:
        filters["status"] = ""
    rows = list(instance_list(user=user, **filters))
    for row in rows:
        latest = getattr(row, "latest_version", None)
        row.upgrade_to = latest if upgrade_available(row.version, latest) else ""  # type: ignore[attr-defined]
    teams = teams_with_role(user, Role.OPERATOR)
    context: dict[str, Any] = {
        "instances": rows,
        "filters": filters,
        "filtered": any(filters.values()),
        "namespace_choices": choices["namespaces"],
        "app_choices": choices["apps"],
        "status_choices": InstanceStatus.choices,
        "namespaces": namespace_list(user=user),
        "namespace_form": namespace_form or InstanceNamespaceForm(teams=teams),
        "can_create_namespace": teams.exists(),
    }
    return render(request, "deployments/list.html", context, status=status)


@login_required
@require_safe
def instance_list_view(request: HttpRequest) -> HttpResponse:
    return _render(request)


@login_required
@require_POST
def namespace_create_view(request: HttpRequest) -> HttpResponse:
    """A namespace for one of the user's operator teams; back to `next` (the
    install form that asked for it) or to the list."""
    form = InstanceNamespaceForm(request.POST, teams=teams_with_role(request.user, Role.OPERATOR))
    if form.is_valid():
        try:
            namespace = namespace_create(
                actor=actor_from_request(request),
                team=form.cleaned_data["team"],
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except ServiceError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"Namespace {namespace.name} created.")
            return redirect(safe_next(request, "/instances/#namespaces"))
    if request.POST.get("next"):
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Namespace not created: {error}")
        return redirect(safe_next(request, "/instances/"))
    return _render(request, namespace_form=form, status=400)
