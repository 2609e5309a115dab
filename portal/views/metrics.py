"""``GET /metrics``: the portal's own metrics (SPEC section 10), for Prometheus."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.actors import client_ip
from portal.metrics import CONTENT_TYPE, address_may_read_metrics, metrics_text
from portal.ratelimit import failure_record
from portal.services.tokens import token_lookup


def _refusal(status: int, text: str) -> HttpResponse:
    # One plain line and nothing else: no metric name, no hint of what is inside.
    response = HttpResponse(text + "\n", status=status, content_type="text/plain")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """A staff API token from anywhere; no token from an address in
    ``METRICS_ALLOW_FROM``. A token that is sent is checked even from an allowed
    address: a bad one is refused, never silently ignored."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, raw = header.partition(" ")
        token = token_lookup(raw.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            if not failure_record("token", client_ip(request)):
                return _refusal(429, "Too many failed authentication attempts.")
            return _refusal(401, "Invalid, expired or revoked token.")
        if not token.user.is_staff:
            return _refusal(403, "Forbidden.")
    elif not address_may_read_metrics(request):
        return _refusal(403, "Forbidden.")
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE)
