"""Every API error is `{"error": "<code>", "detail": "<one line>"}` (SPEC section 5)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "too_large"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service the request needs is unavailable; try again shortly."
    default_code = "unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 30) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def _one_line(detail: Any) -> tuple[str, dict[str, Any] | list[Any] | None]:
    """Flatten DRF's nested error detail into one line, keeping the structure apart."""
    if isinstance(detail, dict):
        parts = []
        for field, errors in detail.items():
            messages = errors if isinstance(errors, list) else [errors]
            text = "; ".join(str(_one_line(m)[0]) for m in messages)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        return " | ".join(parts), detail
    if isinstance(detail, list):
        return "; ".join(str(_one_line(item)[0]) for item in detail), detail
    return " ".join(str(detail).split()), None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    assert isinstance(exc, exceptions.APIException)
    code = exc.get_codes()
    if not isinstance(code, str):
        code = "invalid"
    line, fields = _one_line(response.data)
    body: dict[str, Any] = {"error": code, "detail": line}
    if fields is not None:
        body["fields"] = fields
    response.data = body
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = str(exc.retry_after)
    return response
