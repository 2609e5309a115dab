"""Every API error is `{"error": "<code>", "detail": "<one line>"}` (SPEC section 5)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.services.errors import (
    AlreadyExists,
    Forbidden,
    Invalid,
    NotFound,
    Refused,
    ServiceError,
    Unavailable,
)

log = logging.getLogger(__name__)


class ErrorSerializer(serializers.Serializer):
    """The error body, for the OpenAPI schema."""

    error = serializers.CharField(help_text="A short machine-readable code.")
    detail = serializers.CharField(help_text="One line for a human.")
    # A validation error also carries `fields`, the per-field messages; a serializer
    # field cannot be called that, so the schema leaves it out.


class InvalidInput(exceptions.APIException):
    """A 400 whose detail is one line rather than DRF's per-field structure."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request is invalid."
    default_code = "invalid"


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

    def __init__(
        self, detail: str | None = None, code: str | None = None, *, retry_after: int = 30
    ) -> None:
        super().__init__(detail, code)
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


_SERVICE_ERRORS: dict[type[ServiceError], type[exceptions.APIException]] = {
    Invalid: InvalidInput,
    Forbidden: exceptions.PermissionDenied,
    NotFound: exceptions.NotFound,
    AlreadyExists: Conflict,
    Refused: Conflict,
    Unavailable: ServiceUnavailable,
}


def _from_service_error(exc: ServiceError) -> exceptions.APIException:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:
        # Every problem, not only the first: {"detail": "...", "fields": {"values": [...]}}
        return InvalidInput({"values": [str(e) for e in errors]})
    # The service's code, so that a subclass can name its meaning (render_limit).
    for kind in type(exc).__mro__:
        if kind in _SERVICE_ERRORS:
            return _SERVICE_ERRORS[kind](exc.message, code=exc.code)
    return InvalidInput(exc.message, code=exc.code)


def error_json(code: str, detail: str, *, status: int) -> JsonResponse:
    """The error shape outside DRF views: Django's 400/404/500 handlers under /api/."""
    return JsonResponse({"error": code, "detail": detail}, status=status)


def body_too_large() -> PayloadTooLarge:
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1024**2
    return PayloadTooLarge(f"The request body is larger than {limit_mb:g} MB.")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, every answer in the `{error, detail}` shape. An exception no
    rule maps is a bug: logged with its traceback and answered as a JSON 500."""
    if isinstance(exc, RequestDataTooBig):
        exc = body_too_large()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        # The helper's message ("This needs the admin role in ops.") is safe to
        # show: it is raised only for objects the caller can already see.
        exc = exceptions.PermissionDenied(str(exc) or None)
    extra: dict[str, Any] = {}
    if isinstance(exc, ServiceError):
        extra = exc.extra
        exc = _from_service_error(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        log.error("unhandled error in %s", context.get("view"), exc_info=exc)
        return Response(
            {"error": "server_error", "detail": "An unexpected error; it has been logged."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    assert isinstance(exc, exceptions.APIException)
    code = exc.get_codes()
    if not isinstance(code, str):
        code = "invalid"
    data = response.data
    if isinstance(data, dict) and list(data) == ["detail"]:
        data = data["detail"]  # DRF's wrapping of a plain message, not a field named detail
    line, fields = _one_line(data)
    body: dict[str, Any] = {"error": code, "detail": line}
    if fields is not None:
        body["fields"] = fields
    body.update(extra)
    response.data = body
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = str(exc.retry_after)
    return response
