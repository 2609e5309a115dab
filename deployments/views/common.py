"""Helpers shared by the instance pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from deployments.forms import InstanceNamespaceForm
from deployments.models import Instance
from deployments.selectors.clusters import cluster_list
from deployments.values_form import ValuesForm
from portal.models import Role
from portal.permissions import teams_with_role
from portal.services.errors import Forbidden, Unavailable

# The version whose values editor the page shows: a submission from another
# version's editor is shown again, never acted on.
LOADED_FIELD = "loaded_version"


# The failed install whose values the install form starts from ("Edit values and retry").
RETRY_FIELD = "retry"


def error_summary(form: forms.Form, values_form: ValuesForm | None) -> list[dict[str, str]]:
    """Every problem of a refused submission, in page order, each with the id of the
    element it is about ("" for none): the error summary at the top of the page."""
    entries = [{"message": str(error), "target": ""} for error in form.non_field_errors()]
    for name, errors in form.errors.items():
        if name == NON_FIELD_ERRORS:
            continue
        bound = form[name]
        entries += [
            {"message": f"{bound.label}: {error}", "target": bound.id_for_label} for error in errors
        ]
    if values_form is not None:
        entries += values_form.error_summary
    return entries


def new_namespace_form(request: HttpRequest, data: Any = None) -> InstanceNamespaceForm:
    """The new-namespace form: the user's operator teams, the registered clusters."""
    return InstanceNamespaceForm(
        data,
        teams=teams_with_role(request.user, Role.OPERATOR),
        clusters=list(cluster_list().values_list("name", flat=True)),
    )


def posted_checkbox(request: HttpRequest, name: str) -> bool:
    """Whether the form's checkbox ``name`` (force, allow_yanked) was ticked."""
    return request.POST.get(name, "") in ("1", "on", "true")


def instance_url(instance: Instance) -> str:
    return reverse("instance-detail", args=[instance.namespace.name, instance.name])


def forbidden(exc: Forbidden) -> PermissionDenied:
    """A service's Forbidden as Django's 403, the way the other pages answer it."""
    return PermissionDenied(exc.message)


def refuse(form: forms.Form, message: str) -> None:
    """Show a service's refusal above ``form``, bound or not: Django's add_error
    expects a cleaned form, and the pages show an unbound one until its first POST."""
    if not hasattr(form, "cleaned_data"):
        form.cleaned_data = {}
    form.add_error(None, message)


def error_status(exc: Exception) -> int:
    return 503 if isinstance(exc, Unavailable) else 400


def safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def note_typed_secrets(values_form: ValuesForm, data: Any) -> None:
    """The page is shown again and a password field never shows what was typed:
    say so, or the next submission would silently keep the stored secret."""
    for name, field in values_form.form.fields.items():
        if getattr(field.widget, "input_type", "") == "password" and data.get(name):
            values_form.notices.append(
                "Secret values you typed are not shown again: type them again before you submit."
            )
            return


def shows_another_version(request: HttpRequest, version: str, fresh: ValuesForm) -> bool:
    """Whether the page must show `fresh`, the editor of `version`, instead of acting:
    "Load version" was pressed, or the submitted editor was built for another
    version (its values were never checked against this version's schema)."""
    if "load" in request.POST:
        return True
    if request.POST.get(LOADED_FIELD) == version:
        return False
    fresh.notices.append(
        f"The values editor now shows version {version}: check the values and submit again."
    )
    return True


def breadcrumbs(instance: Instance, *last: str) -> list[tuple[str, str]]:
    """Instances > namespace > instance [> last page]."""
    namespace = instance.namespace.name
    crumbs = [
        ("Instances", reverse("instance-list")),
        (namespace, reverse("instance-list") + f"?namespace={namespace}"),
        (instance.name, instance_url(instance)),
    ]
    return crumbs + [(label, "") for label in last]
