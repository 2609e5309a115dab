"""`/instances/<ns>/<name>/upgrade/`: choose a version, edit the values, preview
the dry run, then upgrade.

"Preview changes" and "Upgrade" submit the same form, so what is upgraded is
what was previewed. The editor starts from the values the user gave at the
current revision; it returns the complete set, so the service is told not to
merge it onto the old ones again (a value set back to its default would stay).

The page also shows the chosen version's release notes (and, for a new major
version, a warning that links its upgrade doc), a refused submission's error
summary at the top, and a preview's list of changed files above its diffs."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from deployments.forms import UpgradeForm
from deployments.models import Instance, InstanceStatus
from deployments.selectors.dependents import dependents_broken_by
from deployments.selectors.instance_pages import app_versions
from deployments.selectors.instances import instance_get
from deployments.selectors.upgrade_notes import upgrade_notes
from deployments.services.instances import (
    ValuesRejected,
    current_user_values,
    instance_upgrade,
    package_for,
)
from deployments.services.preview import instance_upgrade_preview
from deployments.values_form import ValuesForm
from deployments.views.common import (
    LOADED_FIELD,
    breadcrumbs,
    error_status,
    error_summary,
    forbidden,
    instance_url,
    note_typed_secrets,
    posted_checkbox,
    refuse,
    shows_another_version,
)
from market.models import AppVersion
from portal.actors import actor_from_request
from portal.models import Role
from portal.permissions import require_team_role
from portal.services.errors import Forbidden, Refused, ServiceError


def _version_choices(instance: Instance, versions: list[AppVersion]) -> list[tuple[str, str]]:
    return [
        (v.version, f"{v.version} (installed)" if v.version == instance.version else v.version)
        for v in versions
    ]


@login_required
def instance_upgrade_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    instance = instance_get(user=request.user, namespace=namespace, name=name)
    # Only operators get the page; the service checks again on submit.
    require_team_role(request.user, instance.namespace.team, Role.OPERATOR)
    if instance.status != InstanceStatus.DEPLOYED or instance.current_revision is None:
        messages.error(
            request, f"{instance} is {instance.status}; only a deployed instance can be upgraded."
        )
        return redirect(instance_url(instance))
    versions = app_versions(market=instance.market, app=instance.app_name)
    if not versions:
        messages.error(request, f"{instance.app_name} is no longer in market {instance.market}.")
        return redirect(instance_url(instance))
    choices = _version_choices(instance, versions)
    params = request.POST if request.method == "POST" else request.GET
    # The default is the highest version not yanked (SPEC 14), as the API's.
    default = next((v for v in versions if not v.yanked), versions[0])
    wanted = params.get("version") or default.version
    chosen = next((v for v in versions if v.version == wanted), default)
    form = UpgradeForm(initial={"version": chosen.version}, versions=choices)
    page: dict[str, Any] = {
        "instance": instance,
        "chosen": chosen,
        "breadcrumbs": breadcrumbs(instance, "Upgrade"),
        # Said before the user confirms (SPEC 11): the upgrade is refused unless forced.
        "breaks": dependents_broken_by(instance=instance, version=chosen.version),
    }
    try:
        package = package_for(chosen)
    except ServiceError as exc:
        refuse(form, exc.message)
        return _render(request, form, None, page, status=error_status(exc))
    page["notes"] = upgrade_notes(current=instance.version, target=chosen, package=package)
    current = current_user_values(instance)
    fresh = ValuesForm(package.values_schema, defaults=package.values, current=current)
    if request.method != "POST":
        return _render(request, form, fresh, page)

    if shows_another_version(request, chosen.version, fresh):
        return _render(request, form, fresh, page)
    values_form = ValuesForm(
        package.values_schema, defaults=package.values, current=current, data=request.POST
    )
    if values_form.switching:
        return _render(request, form, values_form, page)
    if not values_form.is_valid():
        note_typed_secrets(values_form, request.POST)
        return _render(request, form, values_form, page, status=400)

    arguments: dict[str, Any] = {
        "actor": actor_from_request(request),
        "instance": instance,
        "version": chosen.version,
        "values": values_form.values,
        "reuse_values": False,
    }
    status = 200
    try:
        if "preview" in request.POST:
            page["preview"] = instance_upgrade_preview(**arguments)
        else:
            forced = posted_checkbox(request, "force")
            allow_yanked = posted_checkbox(request, "allow_yanked")
            requested = instance_upgrade(**arguments, force=forced, allow_yanked=allow_yanked)
            messages.success(
                request,
                f"Upgrading {instance} from {instance.version} to {chosen.version}.",
            )
            return redirect(instance_url(requested.instance))
    except Forbidden as exc:
        raise forbidden(exc) from None
    except ValuesRejected as exc:
        values_form.add_schema_errors(exc.errors)
        status = 400
    except ServiceError as exc:
        refuse(form, exc.message)
        status = 409 if isinstance(exc, Refused) else error_status(exc)
    note_typed_secrets(values_form, request.POST)
    return _render(request, form, values_form, page, status=status)


def _render(
    request: HttpRequest,
    form: UpgradeForm,
    values_form: ValuesForm | None,
    page: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    context = {
        "preview": None,
        **page,
        "form": form,
        "values_form": values_form,
        "loaded_field": LOADED_FIELD,
        "error_summary": error_summary(form, values_form),
    }
    return render(request, "deployments/upgrade.html", context, status=status)
