"""Headers every response carries, so browsers neither sniff types nor frame the service.

Pure ASGI (not BaseHTTPMiddleware), so bodies stream through untouched. A response that sets
one of these headers itself keeps its own value: the documentation pages need a content
security policy that lets their same-origin scripts and styles run.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The API answers JSON and images, never pages: nothing it sends may load anything or be framed.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", API_CONTENT_SECURITY_POLICY.encode()),
)
# The same, for the one answer sent outside this middleware: Starlette's ServerErrorMiddleware,
# outermost, sends the 500 of an unexpected exception itself
# (error_handlers.install_error_handlers).
SECURITY_HEADER_FIELDS: dict[str, str] = {
    name.decode(): value.decode() for name, value in SECURITY_HEADERS
}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in SECURITY_HEADERS if pair[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
