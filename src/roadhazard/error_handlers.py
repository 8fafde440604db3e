"""Every failure of a request as an RFC 9457 problem+json answer, and the handlers' installation.

Domain code raises the exceptions of `roadhazard.errors`; FastAPI's validation errors, Starlette's
HTTP errors, a Redis outage and any unexpected exception are rendered here the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from roadhazard.errors import RoadhazardError, Unprocessable, public_validation_errors, shown
from roadhazard.openapi_paths import allowed_methods
from roadhazard.request_context import REQUEST_ID_HEADER, request_id_of

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://roadhazard.dev/problems/"

log = structlog.get_logger(__name__)


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


ExceptionHandler = Callable[[Request, Exception], Awaitable[JSONResponse]]


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
    elif exc.status_code == 405 and (
        allowed := allowed_methods(request.app.openapi(), request.url.path)
    ):
        headers["Allow"] = allowed
    problem = _HTTP_PROBLEMS.get(
        exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
    )
    return problem_response(
        request, exc.status_code, problem=problem, detail=detail, headers=headers
    )


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
