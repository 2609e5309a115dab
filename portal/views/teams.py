"""Team pages: list, detail with members and namespaces, and their forms.

Each POST handler checks the role through portal.permissions, calls one
service and redirects; a refusal re-renders the team page with the reason."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal.actors import actor_from_request
from portal.forms import MemberSetForm, NamespaceCreateForm, TeamCreateForm, TeamUpdateForm
from portal.models import Role, Team
from portal.permissions import (
    has_team_role,
    is_staff,
    require_staff,
    require_team_role,
    visible_team_or_404,
)
from portal.seams import team_namespace_create, team_namespaces
from portal.selectors.accounts import user_by_username
from portal.selectors.teams import team_list, team_members
from portal.services.errors import ServiceError
from portal.services.teams import (
    membership_remove,
    membership_set,
    team_create,
    team_delete,
    team_update,
)


@login_required
def team_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "teams/list.html",
        {"teams": team_list(user=request.user), "can_create": is_staff(request.user)},
    )


@login_required
def team_create_view(request: HttpRequest) -> HttpResponse:
    require_staff(request.user)
    form = TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = team_create(actor=actor_from_request(request), **form.cleaned_data)
        except ServiceError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"Team {team.name} created. Add its first admin below.")
            return redirect("team-detail", team=team.name)
    status = 400 if form.is_bound else 200
    return render(request, "teams/new.html", {"form": form}, status=status)


def _detail(request: HttpRequest, team: Team, *, status: int = 200, **forms: Any) -> HttpResponse:
    user = request.user
    context = {
        "team": team,
        "members": team_members(team=team),
        "namespaces": team_namespaces(user=user, team=team.name),
        "roles": Role.choices,
        "can_manage": has_team_role(user, team, Role.ADMIN),
        "can_create_namespace": has_team_role(user, team, Role.OPERATOR),
        "can_delete": is_staff(user),
        "member_form": forms.get("member_form") or MemberSetForm(),
        "namespace_form": forms.get("namespace_form") or NamespaceCreateForm(),
        "team_form": forms.get("team_form")
        or TeamUpdateForm(initial={"description": team.description}),
    }
    return render(request, "teams/detail.html", context, status=status)


@login_required
def team_detail_view(request: HttpRequest, team: str) -> HttpResponse:
    return _detail(request, visible_team_or_404(request.user, team))


@login_required
@require_POST
def team_update_view(request: HttpRequest, team: str) -> HttpResponse:
    found = visible_team_or_404(request.user, team)
    require_team_role(request.user, found, Role.ADMIN)
    form = TeamUpdateForm(request.POST)
    if not form.is_valid():
        return _detail(request, found, status=400, team_form=form)
    team_update(actor=actor_from_request(request), team=found, **form.cleaned_data)
    messages.success(request, "Description saved.")
    return redirect("team-detail", team=found.name)


@login_required
@require_POST
def team_delete_view(request: HttpRequest, team: str) -> HttpResponse:
    found = visible_team_or_404(request.user, team)
    require_staff(request.user)
    try:
        team_delete(actor=actor_from_request(request), team=found)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("team-detail", team=found.name)
    messages.success(request, f"Team {found.name} deleted.")
    return redirect("team-list")


@login_required
@require_POST
def member_set_view(request: HttpRequest, team: str) -> HttpResponse:
    """Add a member, or change a member's role: the same form does both."""
    found = visible_team_or_404(request.user, team)
    require_team_role(request.user, found, Role.ADMIN)
    form = MemberSetForm(request.POST)
    if not form.is_valid():
        return _detail(request, found, status=400, member_form=form)
    user = user_by_username(form.cleaned_data["username"])
    if user is None:
        form.add_error("username", f"No active user named “{form.cleaned_data['username']}”.")
        return _detail(request, found, status=400, member_form=form)
    try:
        membership, created = membership_set(
            actor=actor_from_request(request), team=found, user=user, role=form.cleaned_data["role"]
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("team-detail", team=found.name)
    verb = "added as" if created else "is now"
    messages.success(request, f"{user.get_username()} {verb} {membership.get_role_display()}.")
    return redirect("team-detail", team=found.name)


@login_required
@require_POST
def member_remove_view(request: HttpRequest, team: str, username: str) -> HttpResponse:
    found = visible_team_or_404(request.user, team)
    require_team_role(request.user, found, Role.ADMIN)
    membership = team_members(team=found).filter(user__username=username).first()
    if membership is None:
        raise Http404("No such member.")
    try:
        membership_remove(actor=actor_from_request(request), team=found, user=membership.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{username} removed from {found.name}.")
    return redirect("team-detail", team=found.name)


@login_required
@require_POST
def namespace_create_view(request: HttpRequest, team: str) -> HttpResponse:
    found = visible_team_or_404(request.user, team)
    require_team_role(request.user, found, Role.OPERATOR)
    form = NamespaceCreateForm(request.POST)
    if form.is_valid():
        try:
            namespace = team_namespace_create(
                actor=actor_from_request(request), team=found, **form.cleaned_data
            )
        except ServiceError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"Namespace {namespace.name} created.")
            return redirect("team-detail", team=found.name)
    return _detail(request, found, status=400, namespace_form=form)
