"""HTTP request metrics, recorded by a pure ASGI middleware.

Pure ASGI rather than BaseHTTPMiddleware: no extra task or thread hop, no buffered bodies, and
streaming responses are timed to their last byte. The route label is read after the app has
run, because Starlette's router writes the matched route into the (shared) scope.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roadhazard.observability.in_flight import IN_FLIGHT, InFlightRequests
from roadhazard.observability.metrics import UNMATCHED_ROUTE, record_http_request


class MetricsMiddleware:
    """Add it last (outermost), so its duration covers the other middlewares too."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        in_flight: InFlightRequests = IN_FLIGHT,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self._in_flight = in_flight
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # An app that raises before answering is answered 500 by Starlette's outermost handler.
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self._in_flight.add(scope)
        started = self._clock()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self._in_flight.discard(scope)
            elapsed = self._clock() - started
            record_http_request(scope["method"], route_template(scope), status, elapsed)


def route_template(scope: Scope) -> str:
    """The matched route's template, e.g. "/v1/reports/{report_id}"; 405s keep their route.

    A route inside a mounted sub-application reports its template relative to the mount.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE
