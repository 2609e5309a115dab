"""`/markets/<name>/...`: the markets this portal holds, in the format-1 layout,
so another platform — or a CDN in front of this one — can subscribe to them."""

from __future__ import annotations

import gzip
import hashlib
import re

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from guards.slugs import SLUG_PATTERN
from market.models import Market
from market.services.markets import storage_for_market
from market.storage.base import NotFound, StorageError
from portal.actors import client_ip
from portal.ratelimit import failure_record
from portal.services.tokens import token_lookup

_PATH = re.compile(
    rf"(?:market\.json|apps/(?P<app>{SLUG_PATTERN})/"
    r"(?:index\.json|(?P=app)-[0-9A-Za-z.+-]{1,100}\.tgz))"
)
GZIP_MIN_BYTES = 1024


def _authorised(request: HttpRequest) -> bool | None:
    """True for a valid token or a logged-in user; None when rate-limited."""
    if request.user.is_authenticated:
        return True
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.lower().startswith("bearer "):
        return False
    # The token first: only failures count towards the address's limit.
    if token_lookup(header[7:].strip()) is not None:
        return True
    return False if failure_record("token", client_ip(request)) else None


def _etag_matches(request: HttpRequest, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): a cache or CDN on
    the way may have weakened our validator to W/"...", and it still matches."""
    header = request.META.get("HTTP_IF_NONE_MATCH", "")
    return any(part.strip().removeprefix("W/") in (etag, "*") for part in header.split(","))


def _accepts_gzip(request: HttpRequest) -> bool:
    for part in request.META.get("HTTP_ACCEPT_ENCODING", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip"):
            continue
        quality = params.strip().lower().removeprefix("q=")
        try:
            return not params or float(quality) > 0
        except ValueError:
            return False
    return False


@require_safe
def market_file(request: HttpRequest, market: str, path: str) -> HttpResponse:
    if not _PATH.fullmatch(path):
        raise Http404("No such file.")
    held = Market.objects.filter(name=market).first()
    if held is None:
        raise Http404("No such market.")
    if held.is_private:
        allowed = _authorised(request)
        if not allowed:
            status = 429 if allowed is None else 401
            response = HttpResponse("A token is required for this market.\n", status=status)
            response["WWW-Authenticate"] = 'Bearer realm="market"'
            return response
    try:
        data = storage_for_market(held).get(path).data
    except NotFound:
        raise Http404("No such file.") from None
    except StorageError:
        return HttpResponse("The market's storage is unavailable.\n", status=503)

    is_json = path.endswith(".json")
    use_gzip = is_json and len(data) >= GZIP_MIN_BYTES and _accepts_gzip(request)
    # A strong ETag per representation: the gzip body has its own.
    digest = hashlib.sha256(data).hexdigest()
    etag = f'"{digest}-gz"' if use_gzip else f'"{digest}"'
    scope = "private" if held.is_private else "public"
    # Archives never change (SPEC section 3); documents must be revalidated.
    cache_control = (
        f"{scope}, max-age=31536000, immutable"
        if not is_json
        else f"{scope}, max-age=30, must-revalidate"
    )

    if _etag_matches(request, etag):
        response = HttpResponse(status=304)
    else:
        body = gzip.compress(data, mtime=0) if use_gzip else data
        content_type = "application/json" if is_json else "application/gzip"
        response = HttpResponse(body, content_type=content_type)
        if use_gzip:
            response["Content-Encoding"] = "gzip"
        response["Content-Length"] = str(len(body))
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    if is_json:
        patch_vary_headers(response, ["Accept-Encoding"])
    if held.is_private:
        patch_vary_headers(response, ["Authorization", "Cookie"])
    return response
