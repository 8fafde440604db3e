"""Request headers within bounds: how many, how long each line, how large all of them.

Two layers enforce them. `HeaderLimitMiddleware` (pure ASGI) checks the parsed headers of
every request the app sees and answers 431 with a problem document. It comes too late for a
head that never ends, which the HTTP parser would buffer whole (uvicorn took 32 MB): for
that, `roadhazard serve` runs `protocol.BoundedHttpToolsProtocol`, which stops reading a
request head past `max_header_bytes` and answers the same 431.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from http import HTTPStatus

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from roadhazard.error_handlers import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE, problem_response

STATUS = 431
PROBLEM = "request-header-fields-too-large"
# Each header line is `name: value` and CRLF: four bytes beyond its name and value.
LINE_OVERHEAD = 4


@dataclass(frozen=True)
class HeaderLimits:
    max_headers: int
    max_line_bytes: int
    max_total_bytes: int

    def violation(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """Why these headers are refused, or None when they are within every limit."""
        if len(headers) > self.max_headers:
            return f"The request has more than {self.max_headers} header fields."
        total = 0
        for name, value in headers:
            line = len(name) + len(value) + LINE_OVERHEAD
            if line > self.max_line_bytes:
                return f"A header field is longer than {self.max_line_bytes} bytes."
            total += line
        if total > self.max_total_bytes:
            return f"The request's header fields exceed {self.max_total_bytes} bytes in all."
        return None


class HeaderLimitMiddleware:
    """Sits inside RequestIdMiddleware, so the 431 carries the request's id."""

    def __init__(self, app: ASGIApp, *, limits: HeaderLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reason = self.limits.violation(scope["headers"])
        if reason is None:
            await self.app(scope, receive, send)
            return
        response = problem_response(Request(scope), STATUS, problem=PROBLEM, detail=reason)
        await response(scope, receive, send)


def head_too_large_response(limit: int) -> bytes:
    """The whole HTTP answer to a request head that grew past `limit` bytes unfinished; the
    connection closes after it, since the rest of the request cannot be read."""
    request_id = uuid.uuid4().hex
    body = json.dumps(
        {
            "type": PROBLEM_TYPE_BASE + PROBLEM,
            "title": HTTPStatus(STATUS).phrase,
            "status": STATUS,
            "detail": f"The request line and header fields exceed {limit} bytes.",
            "request_id": request_id,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {STATUS} {HTTPStatus(STATUS).phrase}\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        f"x-request-id: {request_id}\r\n"
        "x-content-type-options: nosniff\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
