"""`/builds/profiles/`: resource profiles. Everyone who may build sees them (a
build names one); staff create and edit them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from builds.forms import ProfileForm, format_assignments
from builds.models import ResourceProfile
from builds.selectors import allowed_hosts, effective_resources, profile_get, profile_list
from builds.services.profiles import profile_create, profile_update
from portal.actors import actor_from_request
from portal.permissions import is_staff, require_staff
from portal.services.errors import NotFound, ServiceError


@login_required
@require_safe
def profile_list_view(request: HttpRequest) -> HttpResponse:
    profiles = []
    for profile in profile_list():
        resources = effective_resources(profile=profile)
        profiles.append(
            {
                "profile": profile,
                "resources": [r for r in resources if r.origin == "profile"],
                "allowed": allowed_hosts(profile=profile, resources=resources),
            }
        )
    return render(
        request,
        "builds/profiles.html",
        {
            "profiles": profiles,
            "defaults": effective_resources(),
            "is_staff": is_staff(request.user),
        },
    )


@login_required
def profile_new(request: HttpRequest) -> HttpResponse:
    require_staff(request.user)
    form = ProfileForm(request.POST or None)

    def save(data: dict[str, Any]) -> ResourceProfile:
        return profile_create(
            actor=actor_from_request(request),
            name=data["name"],
            description=data["description"],
            values=data["values"],
            allowed_hosts=data["allowed_hosts"],
        )

    return _profile_form(request, form, save=save, done="created", context={"new": True})


@login_required
def profile_edit(request: HttpRequest, name: str) -> HttpResponse:
    require_staff(request.user)
    try:
        profile = profile_get(name=name)
    except NotFound:
        raise Http404("No such profile.") from None
    initial = {
        "name": profile.name,
        "description": profile.description,
        "values": format_assignments(profile.values),
        "allowed_hosts": "\n".join(profile.allowed_hosts),
    }
    form = ProfileForm(request.POST or None, initial=initial)
    form.fields["name"].disabled = True

    def save(data: dict[str, Any]) -> ResourceProfile:
        return profile_update(
            actor=actor_from_request(request),
            profile=profile,
            description=data["description"],
            values=data["values"],
            allowed_hosts=data["allowed_hosts"],
        )

    return _profile_form(
        request, form, save=save, done="saved", context={"new": False, "profile": profile}
    )


def _profile_form(
    request: HttpRequest,
    form: ProfileForm,
    *,
    save: Callable[[dict[str, Any]], ResourceProfile],
    done: str,
    context: dict[str, Any],
) -> HttpResponse:
    """The part creating and editing share: save a valid POST and go back to the
    list, or show the form again with what the service refused."""
    if request.method == "POST" and form.is_valid():
        try:
            profile = save(form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Resource profile {profile.name} {done}.")
            return redirect("build-profiles")
    status = 400 if form.is_bound else 200
    return render(request, "builds/profile_form.html", {"form": form, **context}, status=status)
