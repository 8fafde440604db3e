"""The frame streams one process serves, so that shutdown can tell each to go away (1001).

uvicorn closes the WebSocket connections it still holds with 1012 ("service restart") as soon
as it begins to stop. `close_all` runs before that (`shutdown.ShutdownAnnouncer`'s handover),
while the streams are open: each answers the frame it is processing, then closes with 1001, and
a client reconnects through the balancer, which no longer sends it here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class GoesAway(Protocol):
    def go_away(self) -> None:
        """Asks the stream to finish its frame in hand and close with 1001."""

    async def wait_closed(self) -> None: ...


class StreamRegistry:
    def __init__(self) -> None:
        self._streams: set[GoesAway] = set()
        self._closing = False

    def __len__(self) -> int:
        return len(self._streams)

    @contextmanager
    def registered(self, stream: GoesAway) -> Iterator[None]:
        """Holds `stream` while it runs; one that opens during shutdown goes away at once."""
        self._streams.add(stream)
        if self._closing:
            stream.go_away()
        try:
            yield
        finally:
            self._streams.discard(stream)

    async def close_all(self) -> None:
        """Tells every stream to go away and waits for them (each bounds its own closing)."""
        self._closing = True
        streams = list(self._streams)
        for stream in streams:
            stream.go_away()
        await asyncio.gather(*(stream.wait_closed() for stream in streams))
