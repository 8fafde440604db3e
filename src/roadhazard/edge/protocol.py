"""uvicorn's httptools protocol with a bound on unfinished request heads, and the uvicorn
options `roadhazard serve` derives from the settings.

httptools buffers a header value until its line ends, so a client could make one worker hold
gigabytes by never ending a header. This protocol counts the bytes of a request head while it
is still incomplete and answers 431 once they pass the limit. Bytes of a head that completes
within the same read are not held against it, so a request with a large body is unaffected.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from roadhazard.edge.header_limits import head_too_large_response
from roadhazard.settings import Settings

# The request line (method, path, query) comes on top of the header fields.
REQUEST_LINE_ALLOWANCE = 16 * 1024
# A WebSocket frame stream's message is an image and, at most, its metadata (realtime.protocol
# allows 4 KiB of it, and closes with 1009 past either limit itself): the protocol refuses
# anything larger before it is buffered whole.
WS_METADATA_ALLOWANCE = 64 * 1024


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, max_head_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_bytes = max_head_bytes
        self.head_pending = True
        self.head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self.head_pending:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.head_pending and self.head_bytes > self.max_head_bytes:
            self._refuse_head()

    def on_headers_complete(self) -> None:
        self.head_pending = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next request's head starts after this message; pipelined bytes already read
        # are not counted, which only makes the bound a little more lenient.
        self.head_pending = True
        self.head_bytes = 0

    def _refuse_head(self) -> None:
        if self.transport.is_closing():
            return
        self.logger.warning("Request head over %d bytes refused.", self.max_head_bytes)
        self.transport.write(head_too_large_response(self.max_head_bytes))
        self.transport.close()


def http_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """The protocol factory uvicorn builds each connection with (a picklable partial, since
    uvicorn hands its config to each worker process)."""
    factory = functools.partial(
        BoundedHttpToolsProtocol,
        max_head_bytes=settings.max_header_bytes + REQUEST_LINE_ALLOWANCE,
    )
    # uvicorn only calls it with its keyword arguments; a partial serves as well as a class.
    return factory  # type: ignore[return-value]


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The options of `uvicorn.run` that guard the edge: header limits, trusted proxies and
    WebSocket message limits and pings."""
    trusted = settings.forwarded_allow_ips
    return {
        "http": http_protocol(settings),
        # Without a trusted proxy, X-Forwarded-For is not read at all: anyone may send it.
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "h11_max_incomplete_event_size": settings.max_header_bytes + REQUEST_LINE_ALLOWANCE,
        "ws_max_size": settings.max_image_bytes + WS_METADATA_ALLOWANCE,
        # Pings find a peer that is gone without a close (a car out of coverage); one that
        # does not answer within the interval is closed (1011).
        "ws_ping_interval": settings.stream_ping_interval_s,
        "ws_ping_timeout": settings.stream_ping_interval_s,
        # Frames are JPEG, which deflate cannot shrink: compressing would only cost CPU.
        "ws_per_message_deflate": False,
    }
