"""`/instances/`: the instances the user may see, filtered, and their namespaces;
`/instances/namespaces/new/`: a new namespace, on a GitOps repository or a cluster."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from deployments.forms import InstanceNamespaceForm
from deployments.models import InstanceStatus
from deployments.selectors.instance_pages import instance_filter_choices
from deployments.selectors.instances import instance_list, upgrade_available
from deployments.selectors.live_pages import with_live_counts
from deployments.selectors.namespaces import namespace_list
from deployments.services.namespaces import namespace_create
from deployments.views.common import new_namespace_form, refuse, safe_next
from market.selectors.advisories import version_flags
from portal.actors import actor_from_request
from portal.models import Role
from portal.permissions import teams_with_role
from portal.services.errors import AlreadyExists, ServiceError


@login_required
@require_safe
def instance_list_view(request: HttpRequest) -> HttpResponse:
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
    rows = list(with_live_counts(instance_list(user=user, **filters)))
    for row in rows:
        latest = getattr(row, "latest_version", None)
        row.upgrade_to = latest if upgrade_available(row.version, latest) else ""  # type: ignore[attr-defined]
        row.flags = version_flags(row)  # type: ignore[attr-defined]
    context: dict[str, Any] = {
        "instances": rows,
        "filters": filters,
        "filtered": any(filters.values()),
        "namespace_choices": choices["namespaces"],
        "app_choices": choices["apps"],
        "status_choices": InstanceStatus.choices,
        "namespaces": namespace_list(user=user),
        "can_create_namespace": teams_with_role(user, Role.OPERATOR).exists(),
    }
    return render(request, "deployments/list.html", context)


def _render_new(
    request: HttpRequest, form: InstanceNamespaceForm, status: int = 200
) -> HttpResponse:
    context = {
        "form": form,
        "can_create_namespace": bool(form.fields["team"].queryset.exists()),  # type: ignore[attr-defined]
        "breadcrumbs": [("Instances", "/instances/"), ("New namespace", "")],
    }
    return render(request, "deployments/namespace_new.html", context, status=status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def namespace_create_view(request: HttpRequest) -> HttpResponse:
    """A namespace for one of the user's operator teams, on the GitOps repository or
    a registered cluster; back to `next` (the install form that asked for it) or to
    the list. Refused input is shown on the page again, nothing created."""
    if request.method != "POST":
        return _render_new(request, new_namespace_form(request))
    form = new_namespace_form(request, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            namespace = namespace_create(
                actor=actor_from_request(request),
                team=data["team"],
                name=data["name"],
                description=data["description"],
                target=data["target"],
                cluster=data["cluster"],
            )
        except AlreadyExists as exc:
            form.add_error("name", exc.message)
        except ServiceError as exc:
            refuse(form, exc.message)
        else:
            messages.success(request, f"Namespace {namespace.name} created.")
            return redirect(safe_next(request, "/instances/#namespaces"))
    if request.POST.get("next"):
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Namespace not created: {error}")
        return redirect(safe_next(request, "/instances/"))
    return _render_new(request, form, status=400)
