"""Every failure of a request as an RFC 9457 problem+json answer, and the handlers' installation.

Domain code raises the exceptions of `roadhazard.errors`; FastAPI's validation errors, Starlette's
HTTP errors, a Redis outage and any unexpected exception are judged here the same way, into one
ErrorAnswer (status, problem, detail, headers). An API with an error format of its own (Open311
GeoReport v2) gives a renderer for its path prefix; everything else answers problem+json.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection

from roadhazard.errors import RoadhazardError, Unprocessable, public_validation_errors, shown
from roadhazard.openapi_paths import allowed_methods
from roadhazard.request_context import REQUEST_ID_HEADER, request_id_of

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://roadhazard.dev/problems/"

log = structlog.get_logger(__name__)


def problem_document(
    request: HTTPConnection,
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


def problem_for(request: HTTPConnection, exc: RoadhazardError) -> dict[str, Any]:
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


@dataclass(frozen=True)
class ErrorAnswer:
    """A failed request as the handlers judged it: its status, problem type, a detail safe to
    show, the headers it must carry and, for a validation error, where and why it failed. A
    renderer writes it in the format the request's path speaks."""

    status: int
    problem: str
    detail: str
    headers: Mapping[str, str] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)


ErrorRenderer = Callable[[Request, ErrorAnswer], Response]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


def render_problem(request: Request, answer: ErrorAnswer) -> Response:
    """The default rendering: RFC 9457 problem+json."""
    return problem_response(
        request,
        answer.status,
        problem=answer.problem,
        detail=answer.detail,
        headers=dict(answer.headers),
        extra={"errors": answer.errors} if answer.errors else None,
    )


# Python 3.11 still names 413 by its RFC 7231 phrase; problem types follow RFC 9110.
_HTTP_PROBLEMS = {413: "content-too-large", 422: "validation-error"}


def _domain_error(request: HTTPConnection, exc: Exception) -> ErrorAnswer:
    assert isinstance(exc, RoadhazardError)
    errors = exc.errors if isinstance(exc, Unprocessable) else []
    return ErrorAnswer(exc.status, exc.problem, exc.detail, exc.headers, errors)


def _validation_error(request: Request, exc: Exception) -> ErrorAnswer:
    assert isinstance(exc, RequestValidationError)
    return ErrorAnswer(
        422,
        "validation-error",
        "The request did not pass validation.",
        errors=public_validation_errors(exc.errors()),
    )


def _http_error(request: Request, exc: Exception) -> ErrorAnswer:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        detail = f"No route matches {request.method} {shown(request.url.path)}."
    elif exc.status_code == 405 and (
        allowed := allowed_methods(request.app.openapi(), request.url.path)
    ):
        headers["Allow"] = allowed
    problem = _HTTP_PROBLEMS.get(
        exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
    )
    return ErrorAnswer(exc.status_code, problem, detail, headers)


def _unexpected_error(headers: Mapping[str, str]) -> Callable[[Request, Exception], ErrorAnswer]:
    """Starlette calls this outside our middleware, so the request id is bound here explicitly,
    and the answer carries `headers` (the security headers) itself."""

    def judge(request: Request, exc: Exception) -> ErrorAnswer:
        log.error(
            "unhandled_exception",
            path=request.url.path,
            request_id=request_id_of(request.scope),
            exc_info=exc,
        )
        return ErrorAnswer(
            500,
            "internal-error",
            "An unexpected error occurred. Quote the request id when reporting it.",
            headers,
        )

    return judge


def _store_unavailable(retry_after_s: int) -> Callable[[HTTPConnection, Exception], ErrorAnswer]:
    """A Redis connection error or timeout (after the client's own retries) anywhere in a
    request: the store is down or stalled, which is the service's state, not the request's
    fault, so the client hears 503 and when to retry, and the log only the error's class (its
    message may name the server)."""

    def judge(request: HTTPConnection, exc: Exception) -> ErrorAnswer:
        log.warning(
            "redis_unavailable",
            path=request.url.path,
            error=type(exc).__name__,
            request_id=request_id_of(request.scope),
        )
        return ErrorAnswer(
            503,
            "service-unavailable",
            "The data store is not answering; retry shortly.",
            {"Retry-After": str(retry_after_s)},
        )

    return judge


def judge_failure(
    connection: HTTPConnection, exc: Exception, *, retry_after_s: int
) -> ErrorAnswer | None:
    """What the handlers would answer for `exc`, where none runs (a message of a WebSocket
    stream): a domain error as itself, a Redis outage as 503; None for anything else, an
    unexpected failure the caller logs and ends its connection for."""
    if isinstance(exc, RoadhazardError):
        return _domain_error(connection, exc)
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return _store_unavailable(retry_after_s)(connection, exc)
    return None


def _renderer(renderers: Mapping[str, ErrorRenderer]) -> ErrorRenderer:
    """The renderer of the first path prefix in `renderers` the request's path starts with,
    else problem+json; every answer carries the request id."""

    def render(request: Request, answer: ErrorAnswer) -> Response:
        path = request.url.path
        chosen = next(
            (renderer for prefix, renderer in renderers.items() if path.startswith(prefix)),
            render_problem,
        )
        response = chosen(request, answer)
        response.headers.setdefault(REQUEST_ID_HEADER, request_id_of(request.scope))
        return response

    return render


def _handler(
    judge: Callable[[Request, Exception], ErrorAnswer], render: ErrorRenderer
) -> ExceptionHandler:
    async def handle(request: Request, exc: Exception) -> Response:
        return render(request, judge(request, exc))

    return handle


def install_error_handlers(
    app: FastAPI,
    *,
    retry_after_s: int = 1,
    crash_headers: Mapping[str, str] | None = None,
    renderers: Mapping[str, ErrorRenderer] | None = None,
) -> None:
    """`crash_headers`: what the 500 of an unexpected exception must carry that the middleware
    adds to every other answer (it is sent from outside the middleware). `renderers`: by path
    prefix, how the errors of an API with its own error format are written (e.g. Open311's);
    every other path answers problem+json."""
    render = _renderer(renderers or {})
    store_unavailable = _handler(_store_unavailable(retry_after_s), render)
    app.add_exception_handler(RoadhazardError, _handler(_domain_error, render))
    app.add_exception_handler(RedisConnectionError, store_unavailable)
    app.add_exception_handler(RedisTimeoutError, store_unavailable)
    app.add_exception_handler(RequestValidationError, _handler(_validation_error, render))
    app.add_exception_handler(StarletteHTTPException, _handler(_http_error, render))
    app.add_exception_handler(Exception, _handler(_unexpected_error(crash_headers or {}), render))
