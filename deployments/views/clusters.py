"""`/clusters/`: the Kubernetes clusters and their last check; staff add them.

Every signed-in user sees which clusters there are and whether they answer; the
server URLs are shown to staff only (deployments.selectors.clusters)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from deployments.forms import ClusterAddForm
from deployments.selectors.clusters import cluster_details_visible, cluster_list
from deployments.services.clusters import cluster_add
from portal.actors import actor_from_request
from portal.permissions import require_staff
from portal.services.errors import AlreadyExists, ServiceError

COLUMNS: list[dict[str, Any]] = [
    {"key": "name", "label": "Cluster", "sortable": True},
    {"key": "state", "label": "State", "kind": "status", "sortable": True},
    {"key": "version", "label": "Version", "kind": "code", "sortable": True},
    {"key": "checked_at", "label": "Last check", "kind": "datetime", "sortable": True},
    {"key": "problem", "label": "Last problem"},
]
SERVER_COLUMN: dict[str, Any] = {"key": "server", "label": "API server", "kind": "code"}


@login_required
@require_safe
def cluster_list_view(request: HttpRequest) -> HttpResponse:
    staff = cluster_details_visible(request.user)
    rows = [
        {
            "name": cluster.name,
            "state": cluster.state,
            "version": cluster.version,
            "checked_at": cluster.checked_at,
            "problem": cluster.last_error,
            "server": cluster.server
            + (" (TLS not verified)" if cluster.insecure_skip_tls_verify else ""),
        }
        for cluster in cluster_list()
    ]
    columns = [*COLUMNS[:3], SERVER_COLUMN, *COLUMNS[3:]] if staff else COLUMNS
    return render(
        request,
        "deployments/clusters.html",
        {
            "rows": rows,
            "columns": columns,
            "is_staff": staff,
            "subtitle": "The Kubernetes clusters namespaces can be bound to. Each is checked "
            f"every {_every(settings.CELERY_BEAT_SCHEDULE['clusters-check']['schedule'])}: "
            "whether its API server answers, its version, and whether the portal's token "
            "still has the rights it needs.",
        },
    )


def _every(seconds: Any) -> str:
    seconds = int(seconds)
    if seconds % 60 == 0:
        minutes = seconds // 60
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds} seconds"


@login_required
def cluster_add_view(request: HttpRequest) -> HttpResponse:
    require_staff(request.user)
    form = ClusterAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            cluster = cluster_add(
                actor=actor_from_request(request),
                name=data["name"],
                server=data["server"],
                token=data["token"],
                ca_cert=data["ca_cert"],
                insecure_skip_tls_verify=data["insecure_skip_tls_verify"],
                allow_private_network=data["allow_private_network"],
                description=data["description"],
            )
        except AlreadyExists as exc:
            form.add_error("name", exc.message)
        except ServiceError as exc:
            hint = ""
            if "allow flag" in exc.message and not data["allow_private_network"]:
                hint = " (tick “Allow private network addresses” if it is yours)"
            form.add_error(None, exc.message + hint)
        else:
            messages.success(
                request, f"Cluster {cluster.name} added: Kubernetes {cluster.version}."
            )
            return redirect("cluster-list")
    status = 400 if form.is_bound else 200
    return render(request, "deployments/cluster_new.html", {"form": form}, status=status)
