"""`/instances/new/?market=&app=&version=`: the install form.

One page form: where (namespace, name), which version, and the values editor for
that version's package. "Load version" shows the editor of another version; a
submission whose editor was built for another version is shown again, not
installed, so values are never checked against a schema the user did not see."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from deployments.forms import InstallForm
from deployments.models import Operation, OperationKind, OperationState
from deployments.selectors.install_check import install_check
from deployments.selectors.instance_pages import app_versions, installable_namespaces
from deployments.selectors.instances import operation_get
from deployments.selectors.namespaces import namespace_get
from deployments.selectors.operation_blame import operation_value_paths
from deployments.services.instances import (
    ValuesRejected,
    instance_install,
    operation_values,
    package_for,
    require_operator,
)
from deployments.values_form import ValuesForm
from deployments.views.common import (
    LOADED_FIELD,
    RETRY_FIELD,
    error_status,
    error_summary,
    forbidden,
    instance_url,
    new_namespace_form,
    note_typed_secrets,
    posted_checkbox,
    refuse,
    shows_another_version,
)
from market.models import App, AppVersion
from market.selectors.catalogue import app_get
from portal.actors import actor_from_request
from portal.models import Role
from portal.permissions import teams_with_role
from portal.services.errors import AlreadyExists, Forbidden, ServiceError


def _pick(versions: list[AppVersion], wanted: str) -> AppVersion:
    return next((v for v in versions if v.version == wanted), versions[0])


def _retried(request: HttpRequest, params: QueryDict, app: App) -> Operation | None:
    """The failed install whose values the form starts from ("Edit values and
    retry"): one the user may see, of this app."""
    wanted = params.get(RETRY_FIELD, "")
    if not wanted:
        return None
    operation = operation_get(user=request.user, operation_id=wanted)
    if operation.kind != OperationKind.INSTALL or operation.instance.app_name != app.name:
        raise Http404("That operation is not an install of this app.")
    if operation.state not in (OperationState.FAILED, OperationState.ROLLED_BACK):
        raise Http404("That install did not fail.")
    return operation


@login_required
def instance_install_view(request: HttpRequest) -> HttpResponse:
    params: QueryDict = request.POST if request.method == "POST" else request.GET
    app = app_get(market=params.get("market", ""), name=params.get("app", ""))
    versions = app_versions(market=app.market, app=app.name)
    if not versions:
        raise Http404("This app has no versions to install.")
    namespaces = list(installable_namespaces(user=request.user).values_list("name", flat=True))
    retry = _retried(request, params, app)
    wanted = params.get("version") or (retry.instance.version if retry else "") or app.latest
    chosen = _pick(versions, wanted)
    form_args: dict[str, Any] = {
        "namespaces": namespaces,
        "versions": [v.version for v in versions],
    }
    page: dict[str, Any] = {"app": app, "versions": versions, "chosen": chosen, "retry": retry}
    # A retry starts from the failed install's values: a secret left blank keeps the
    # one that install was given (it is never shown).
    current = operation_values(retry) if retry else None

    if request.method == "POST":
        form = InstallForm(request.POST, **form_args)
    else:
        initial = {
            "namespace": request.GET.get("namespace", "")
            or (retry.instance.namespace.name if retry else ""),
            "name": request.GET.get("name") or (retry.instance.name if retry else app.name),
            "version": chosen.version,
        }
        form = InstallForm(initial=initial, **form_args)
    try:
        package = package_for(chosen)
    except ServiceError as exc:
        refuse(form, exc.message)
        return _render(request, form, None, page, status=error_status(exc))
    fresh = ValuesForm(package.values_schema, defaults=package.values, current=current)
    if retry is not None:
        fresh.point_at(operation_value_paths(retry), retry.error)
    if request.method != "POST":
        return _render(request, form, fresh, page)

    if shows_another_version(request, chosen.version, fresh):
        initial = {
            "namespace": request.POST.get("namespace", ""),
            "name": request.POST.get("name", ""),
            "version": chosen.version,
        }
        return _render(request, InstallForm(initial=initial, **form_args), fresh, page)

    values_form = ValuesForm(
        package.values_schema, defaults=package.values, current=current, data=request.POST
    )
    if values_form.switching:
        return _render(request, form, values_form, page)
    actor = actor_from_request(request)
    if form.is_valid():
        # Who may install there is answered first: a namespace the user cannot see
        # is not found, one they may only view is forbidden, whatever the values.
        namespace = namespace_get(user=request.user, name=form.cleaned_data["namespace"])
        try:
            require_operator(actor, namespace)
        except Forbidden as exc:
            raise forbidden(exc) from None
        # The name and the plan are checked in the same round as the values, so that
        # one submission shows every problem.
        check = install_check(namespace=namespace, name=form.cleaned_data["name"], root=chosen)
        if check.name_problem:
            form.add_error("name", check.name_problem)
        if check.plan_problem:
            form.add_error(None, check.plan_problem)
    if not (form.is_valid() & values_form.is_valid()):
        note_typed_secrets(values_form, request.POST)
        return _render(request, form, values_form, page, status=400)

    data = form.cleaned_data
    try:
        requested = instance_install(
            actor=actor,
            namespace=namespace,
            name=data["name"],
            market=app.market,
            app=app.name,
            version=chosen.version,
            values=values_form.values,
            allow_yanked=posted_checkbox(request, "allow_yanked"),
        )
    except Forbidden as exc:
        raise forbidden(exc) from None
    except ValuesRejected as exc:
        values_form.add_schema_errors(exc.errors)
        status = 400
    except AlreadyExists as exc:
        form.add_error("name", exc.message)
        status = 409
    except ServiceError as exc:
        refuse(form, exc.message)
        status = error_status(exc)
    else:
        dependencies = ", ".join(op.instance.name for op in requested.dependencies)
        messages.success(
            request,
            f"Installing {app.name} {chosen.version} as {namespace.name}/{requested.instance.name}"
            + (f", after its dependencies ({dependencies})." if dependencies else "."),
        )
        return redirect(instance_url(requested.instance))
    note_typed_secrets(values_form, request.POST)
    return _render(request, form, values_form, page, status=status)


@login_required
@require_GET
def instance_install_check_view(request: HttpRequest) -> JsonResponse:
    """`/instances/new/check/?market=&app=&version=&namespace=&name=`: the install
    form asks as the user types whether the name may be used and what the plan
    installs with it (JSON, see InstallCheck.as_json)."""
    app = app_get(market=request.GET.get("market", ""), name=request.GET.get("app", ""))
    versions = app_versions(market=app.market, app=app.name)
    if not versions:
        raise Http404("This app has no versions to install.")
    chosen = _pick(versions, request.GET.get("version", ""))
    namespace = namespace_get(user=request.user, name=request.GET.get("namespace", ""))
    try:
        require_operator(actor_from_request(request), namespace)
    except Forbidden as exc:
        raise forbidden(exc) from None
    check = install_check(namespace=namespace, name=request.GET.get("name", ""), root=chosen)
    return JsonResponse(check.as_json())


def _plan(request: HttpRequest, form: InstallForm, app: App, chosen: AppVersion) -> Any:
    """The check of the namespace and name the page shows, for the summary panel's
    "will also install"; None when no namespace is there to plan in."""
    name = form["namespace"].value() or ""
    choices = [value for value, _ in form.fields["namespace"].widget.choices]
    if name not in choices:
        name = choices[0] if choices else ""
    if not name:
        return None
    namespace = namespace_get(user=request.user, name=name)
    return install_check(namespace=namespace, name=str(form["name"].value() or ""), root=chosen)


def _render(
    request: HttpRequest,
    form: InstallForm,
    values_form: ValuesForm | None,
    page: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    app: App = page["app"]
    teams = teams_with_role(request.user, Role.OPERATOR)
    context = {
        **page,
        "form": form,
        "values_form": values_form,
        "loaded_field": LOADED_FIELD,
        "retry_field": RETRY_FIELD,
        "has_namespace": bool(form.fields["namespace"].widget.choices),
        "can_create_namespace": teams.exists(),
        "namespace_form": new_namespace_form(request),
        "market": app.market,
        "check": _plan(request, form, app, page["chosen"]),
        "error_summary": error_summary(form, values_form),
    }
    return render(request, "deployments/install.html", context, status=status)
