"""`Authorization: Bearer <token>` for the API (SPEC section 5)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from portal.actors import client_ip
from portal.ratelimit import failure_record
from portal.services.tokens import token_lookup


class TooManyFailures(exceptions.Throttled):
    default_detail = "Too many failed authentication attempts; try again later."


class BearerTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        # The token first: a valid one is never refused for others' failures from
        # this address (portal/ratelimit.py); only failures are counted.
        token = token_lookup(header[1].decode("latin-1")) if len(header) == 2 else None
        if token is None:
            if not failure_record("token", client_ip(request._request)):
                raise TooManyFailures()
            if len(header) != 2:
                raise exceptions.AuthenticationFailed("Malformed Authorization header.")
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated API calls.
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents the bearer scheme in the OpenAPI schema (registered on import)."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Bearer",  # noqa: S106 - the scheme's name, not a secret
        )
