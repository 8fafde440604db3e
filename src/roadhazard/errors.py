"""Domain exceptions and their RFC 9457 problem+json responses."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from roadhazard.inputs import FormFields, form_values
from roadhazard.request_context import REQUEST_ID_HEADER, request_id_of

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://roadhazard.dev/problems/"

log = structlog.get_logger(__name__)


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


def problem_document(
    request: Request,
    status: int,
    *,
    problem: str,
    detail: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + problem,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id_of(request.scope),
    }
    if extra:
        body.update(extra)
    return body


def problem_for(request: Request, exc: RoadhazardError) -> dict[str, Any]:
    extra = {"errors": exc.errors} if isinstance(exc, Unprocessable) and exc.errors else None
    return problem_document(
        request, exc.status, problem=exc.problem, detail=exc.detail, extra=extra
    )


def problem_response(
    request: Request,
    status: int,
    *,
    problem: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = problem_document(request, status, problem=problem, detail=detail, extra=extra)
    request_id = body["request_id"]
    all_headers = {REQUEST_ID_HEADER: request_id, **(headers or {})}
    return JSONResponse(
        body, status_code=status, headers=all_headers, media_type=PROBLEM_MEDIA_TYPE
    )


ModelT = TypeVar("ModelT", bound=BaseModel)
ExceptionHandler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def validate_body_fields(model: type[ModelT], fields: Mapping[str, Any], detail: str) -> ModelT:
    """Validates fields read by hand from a multipart form (`FormFields`, text) or a JSON body;
    bad ones are a 422 problem whose `errors` point into the body, as FastAPI's own do."""
    values = form_values(model, fields) if isinstance(fields, FormFields) else fields
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise Unprocessable(
            detail,
            errors=public_validation_errors(
                {**e, "loc": ("body", *e["loc"])} for e in exc.errors()
            ),
        ) from None


def public_validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Keeps where and why validation failed; drops the offending input, which may be secret."""
    return [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", ""))}
        for error in errors
    ]


# Python 3.11 still names 413 by its RFC 7231 phrase; problem types follow RFC 9110.
_HTTP_PROBLEMS = {413: "content-too-large", 422: "validation-error"}


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RoadhazardError)
    body = problem_for(request, exc)
    headers = {REQUEST_ID_HEADER: body["request_id"], **exc.headers}
    return JSONResponse(
        body, status_code=exc.status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        request,
        422,
        problem="validation-error",
        detail="The request did not pass validation.",
        extra={"errors": public_validation_errors(exc.errors())},
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        detail = f"No route matches {request.method} {shown(request.url.path)}."
    elif exc.status_code == 405 and (allowed := _allowed_methods(request)):
        headers["Allow"] = allowed
    problem = _HTTP_PROBLEMS.get(
        exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
    )
    return problem_response(
        request, exc.status_code, problem=problem, detail=detail, headers=headers
    )


def _allowed_methods(request: Request) -> str | None:
    """The methods the API document gives the requested path: its concrete path item if it has
    one, else every templated one it matches (OpenAPI's matching rule). Starlette's own `Allow`
    names only the first route whose path matches, but one resource is often served by several
    routes (GET, PATCH and DELETE of a report). None for a path the document leaves out."""
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    path = request.url.path
    items = (
        [paths[path]]
        if path in paths
        else [item for template, item in paths.items() if _path_pattern(template).fullmatch(path)]
    )
    methods = {method.upper() for item in items for method in item if method in _HTTP_METHODS}
    return ", ".join(sorted(methods)) or None


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


@functools.cache
def _path_pattern(template: str) -> re.Pattern[str]:
    return re.compile("[^/]+".join(re.escape(part) for part in re.split(r"\{[^/{}]+\}", template)))


def _unexpected_error(headers: Mapping[str, str]) -> ExceptionHandler:
    """Starlette calls this outside our middleware, so the request id is bound here explicitly,
    and the answer carries `headers` (the security headers) itself."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unhandled_exception",
            path=request.url.path,
            request_id=request_id_of(request.scope),
            exc_info=exc,
        )
        return problem_response(
            request,
            500,
            problem="internal-error",
            detail="An unexpected error occurred. Quote the request id when reporting it.",
            headers=dict(headers),
        )

    return handle


def _store_unavailable(retry_after_s: int) -> ExceptionHandler:
    """A Redis connection error or timeout (after the client's own retries) anywhere in a
    request: the store is down or stalled, which is the service's state, not the request's
    fault, so the client hears 503 and when to retry, and the log only the error's class (its
    message may name the server)."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "redis_unavailable",
            path=request.url.path,
            error=type(exc).__name__,
            request_id=request_id_of(request.scope),
        )
        return problem_response(
            request,
            503,
            problem="service-unavailable",
            detail="The data store is not answering; retry shortly.",
            headers={"Retry-After": str(retry_after_s)},
        )

    return handle


def install_error_handlers(
    app: FastAPI, *, retry_after_s: int = 1, crash_headers: Mapping[str, str] | None = None
) -> None:
    """`crash_headers`: what the 500 of an unexpected exception must carry that the middleware
    adds to every other answer (it is sent from outside the middleware)."""
    app.add_exception_handler(RoadhazardError, _domain_error)
    store_unavailable = _store_unavailable(retry_after_s)
    app.add_exception_handler(RedisConnectionError, store_unavailable)
    app.add_exception_handler(RedisTimeoutError, store_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error(crash_headers or {}))
