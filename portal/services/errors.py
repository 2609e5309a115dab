"""Errors a service raises when it refuses a change for a reason the caller can act on.

Each class names a meaning, not a transport: the API maps them to 400, 403, 404 and
409 (portal.api.errors), the browser views show the message next to the form, and
commands print it and exit non-zero.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base class. The message is one line, fit to show to the user."""

    code = "invalid"
    # Members added to the API's {"error", "detail"} body, for errors whose callers
    # need more than a line (e.g. the dependents an upgrade would break).
    extra: dict[str, Any] = {}

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(ServiceError):
    """The input breaks a rule (a bad name, an unknown user)."""

    code = "invalid"


class RenderLimited(Invalid):
    """Rendering a package's templates went past a render limit (SPEC section 11)."""

    code = "render_limit"


class Forbidden(ServiceError):
    """The actor may see the object but not make this change."""

    code = "permission_denied"


class AlreadyExists(ServiceError):
    """Something with that name already exists."""

    code = "conflict"


class Refused(ServiceError):
    """The change would break an invariant of the current state."""

    code = "conflict"


class NotFound(ServiceError):
    """The object named in the request does not exist (or is not the caller's to see)."""

    code = "not_found"


class Unavailable(ServiceError):
    """A service the change needs (the task queue, a market's storage) is down:
    nothing was written, try again later."""

    code = "unavailable"
