"""URLs that fail on purpose for the error page tests, plus Django's login view; the rest
is the real site."""

from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import include, path


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


def denied(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def bad(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("bad")


def flash(request: HttpRequest) -> HttpResponse:
    messages.success(request, "Installed <b>log-analyzer</b>.")
    messages.error(request, "Upgrade failed.")
    return redirect("home")


urlpatterns = [
    path("test/boom/", boom),
    path("test/denied/", denied),
    path("test/bad/", bad),
    path("test/flash/", flash),
    # The accounts area wires the real /accounts/login/ (with rate limiting); the
    # template is the shell's, tested here on Django's plain view.
    path("test/login/", LoginView.as_view()),
    path("", include("portal.urls")),
]
