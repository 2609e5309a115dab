from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults

from portal.api.errors import body_too_large, error_json
from portal.seams import home_overview
from portal.selectors.health import health_report

# The table beside the home page's operations chart: the same numbers as text.
DAY_COLUMNS = [
    {"key": "day", "label": "Day", "kind": "date"},
    {"key": "count", "label": "Operations", "kind": "number"},
    {"key": "failed", "label": "Failed", "kind": "number"},
    {"key": "rate_text", "label": "Failure rate"},
]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = request.user.memberships.select_related("team")  # type: ignore[union-attr]
    context = {
        "memberships": memberships,
        "overview": home_overview(user=request.user),
        "day_columns": DAY_COLUMNS,
    }
    return render(request, "portal/home.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    return JsonResponse(report, status=200 if report["database"]["ok"] else 503)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a friendly 403 instead of Django's technical page."""
    context = {"debug_reason": reason if settings.DEBUG else ""}
    return render(request, "403_csrf.html", context, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 for every URL: the API's JSON error shape under /api/, the page elsewhere."""
    if request.path.startswith("/api/"):
        return error_json("not_found", "No such endpoint or object.", status=404)
    return render(request, "404.html", status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400 raised outside a view (a body too large read by a middleware, a bad
    host): JSON under /api/, Django's page elsewhere."""
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)  # type: ignore[arg-type]
    if isinstance(exception, RequestDataTooBig):
        too_large = body_too_large()
        return error_json("too_large", str(too_large.detail), status=413)
    return error_json("bad_request", "The request is malformed.", status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return error_json("server_error", "An unexpected error; it has been logged.", status=500)
    return defaults.server_error(request)
