"""Roll back, repair and uninstall: POSTs from the instance page's confirm dialogs."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from deployments.models import Instance
from deployments.selectors.instances import instance_get
from deployments.services.instances import (
    instance_repair,
    instance_rollback,
    instance_uninstall,
)
from deployments.views.common import forbidden, instance_url, posted_checkbox
from portal.actors import actor_from_request
from portal.services.errors import Forbidden, ServiceError


def _request_change(
    request: HttpRequest,
    instance: Instance,
    change: Callable[[], object],
    done: str,
    tab: str = "",
) -> HttpResponse:
    """Run the service call `change`; say `done` or the service's refusal on the
    instance page, open at `tab` (a Forbidden is a 403)."""
    try:
        change()
    except Forbidden as exc:
        raise forbidden(exc) from None
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect(instance_url(instance) + (f"?tab={tab}" if tab else ""))


@login_required
@require_POST
def instance_rollback_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    instance = instance_get(user=request.user, namespace=namespace, name=name)
    try:
        revision = int(request.POST.get("revision", ""))
    except ValueError:
        messages.error(request, "Choose the revision to roll back to.")
        return redirect(instance_url(instance))
    return _request_change(
        request,
        instance,
        lambda: instance_rollback(
            actor=actor_from_request(request),
            instance=instance,
            revision=revision,
            force=posted_checkbox(request, "force"),
        ),
        f"Rolling {instance} back to revision {revision}.",
    )


@login_required
@require_POST
def instance_uninstall_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    instance = instance_get(user=request.user, namespace=namespace, name=name)
    return _request_change(
        request,
        instance,
        lambda: instance_uninstall(
            actor=actor_from_request(request),
            instance=instance,
            force=posted_checkbox(request, "force"),
        ),
        f"Uninstalling {instance}.",
    )


@login_required
@require_POST
def instance_repair_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    """Apply the current revision again (SPEC section 9), from the Resources tab."""
    instance = instance_get(user=request.user, namespace=namespace, name=name)
    revision = instance.current_revision
    return _request_change(
        request,
        instance,
        lambda: instance_repair(actor=actor_from_request(request), instance=instance),
        f"Repairing {instance}: applying revision {revision.number if revision else '?'} again.",
        tab="resources",
    )
