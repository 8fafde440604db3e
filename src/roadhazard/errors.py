"""Domain exceptions: what went wrong, with a stable problem type and a safe detail.

`roadhazard.error_handlers` renders them (and every other failure) as RFC 9457
problem+json.
"""

from __future__ import annotations

from typing import Any


class RoadhazardError(Exception):
    """A failure the client should hear about, with a stable problem type and a safe detail."""

    status: int = 500
    problem: str = "internal-error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class BadRequest(RoadhazardError):
    status = 400
    problem = "bad-request"


class Unauthorized(RoadhazardError):
    status = 401
    problem = "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="roadhazard"'})


class Forbidden(RoadhazardError):
    status = 403
    problem = "forbidden"


class NotFound(RoadhazardError):
    status = 404
    problem = "not-found"


SHOWN_INPUT_MAX = 64


def shown(value: str, limit: int = SHOWN_INPUT_MAX) -> str:
    """A client's value (an id, a path) as a detail may quote it: cut to `limit` characters, so
    an answer never grows with what was sent."""
    return value if len(value) <= limit else value[:limit] + "…"


class Conflict(RoadhazardError):
    status = 409
    problem = "conflict"


class ContentTooLarge(RoadhazardError):
    status = 413
    problem = "content-too-large"


class UnsupportedMediaType(RoadhazardError):
    status = 415
    problem = "unsupported-media-type"


class Unprocessable(RoadhazardError):
    status = 422
    problem = "validation-error"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []


class TooManyRequests(RoadhazardError):
    """The client used up its rate limit; it may retry after `retry_after` s."""

    status = 429
    problem = "too-many-requests"

    def __init__(
        self, detail: str, *, retry_after: int, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail, headers={**(headers or {}), "Retry-After": str(retry_after)})
        self.retry_after = retry_after


class ServiceUnavailable(RoadhazardError):
    """The service cannot take the work now; the client should retry after `retry_after` s."""

    status = 503
    problem = "service-unavailable"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


def public_validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Keeps where and why validation failed; drops the offending input, which may be secret."""
    return [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", ""))}
        for error in errors
    ]
