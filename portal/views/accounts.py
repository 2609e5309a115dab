"""Log in and out, and the profile page where users manage their API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from portal.actors import actor_from_request
from portal.forms import RATE_LIMITED, RateLimitedAuthenticationForm, TokenCreateForm
from portal.selectors.accounts import token_get, token_list
from portal.services.errors import ServiceError
from portal.services.tokens import token_create, token_revoke


class RateLimitedLoginView(LoginView):
    """Django's login, answering 429 once the client's failures pass the limit."""

    form_class = RateLimitedAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, RATE_LIMITED):
            response.status_code = 429
        return response


def _profile(
    request: HttpRequest, form: TokenCreateForm | None = None, *, status: int = 200
) -> HttpResponse:
    context = {"tokens": token_list(user=request.user), "form": form or TokenCreateForm()}
    return render(request, "accounts/profile.html", context, status=status)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    return _profile(request)


@never_cache
@login_required
@require_POST
def token_create_view(request: HttpRequest) -> HttpResponse:
    """Create a token and show its secret on this response only: it is not
    stored anywhere it could be shown from again."""
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        return _profile(request, form, status=400)
    try:
        issued = token_create(
            actor=actor_from_request(request),
            user=request.user,
            name=form.cleaned_data["name"],
            days=form.cleaned_data["days"],
        )
    except ServiceError as exc:
        form.add_error("name", exc.message)
        return _profile(request, form, status=400)
    response = render(
        request,
        "accounts/token_created.html",
        {"token": issued.token, "secret": issued.secret},
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = token_get(user=request.user, token_id=token_id)
    token_revoke(actor=actor_from_request(request), token=token)
    messages.success(request, f"Token “{token.name}” is revoked; it no longer works.")
    return redirect("profile")
