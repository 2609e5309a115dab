"""Response headers the whole site shares."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from portal.api.errors import error_json

NUL_IN_QUERY = "The address contains a NUL character, which is not allowed."


class ContentSecurityPolicyMiddleware:
    """Adds ``CONTENT_SECURITY_POLICY`` to every response that has none. Scripts
    and styles load only from the portal's own static files: an injected inline
    script, event handler or style attribute does not run even if some text
    escapes escaping (package README, values, names)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response


class RefuseNulInAddressMiddleware:
    """400 for a NUL character in the path or query string, before any view runs.
    PostgreSQL refuses NUL in text, so any filter or lookup fed one failed with a
    500 (found by the API fuzz test); no real address contains one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            if request.path.startswith("/api/"):
                return error_json("invalid", NUL_IN_QUERY, status=400)
            return HttpResponseBadRequest(NUL_IN_QUERY)
        return self.get_response(request)
