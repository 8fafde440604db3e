"""The live feed of report events in one worker process: one reader, many listeners.

Events are written by the report scripts into one Redis Stream, whichever process changed the
report (roadhazard.reports.events). Each process runs ONE reader task that waits on that stream
(XREAD BLOCK, a bounded wait on one pooled connection) and hands every event to the listeners
(the open `GET /v1/reports/events` answers) whose filters it matches. A connection per listener
blocking on Redis would cost Redis a client and the pool a connection each.

Memory is bounded: each listener holds at most `queue_size` events. One that falls that far
behind (a slow client, or a burst) is let go rather than buffered without end: its answer ends,
the browser's EventSource reconnects with the last id it got, and resumes from the stream.
At most `max_listeners` listen at once per process; more are refused (503).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog
from redis.exceptions import RedisError

from roadhazard.errors import ServiceUnavailable
from roadhazard.observability.metrics import FeedClosing
from roadhazard.reports.listing import BoundingBox
from roadhazard.reports.service import EventId, ReportEvent, StreamBounds

log = structlog.get_logger(__name__)

# Events one XREAD takes: a burst is read in a few calls, none of them large.
READ_BATCH = 500
# After a failed read, the reader waits this long before it tries again.
RETRY_S = 1.0


class EventSource(Protocol):
    """What the feed reads (the reports service's event methods)."""

    async def events_after(self, last: EventId, count: int) -> Sequence[ReportEvent]: ...

    async def wait_for_events(
        self, last: EventId, *, block_ms: int, count: int
    ) -> Sequence[ReportEvent]: ...

    async def event_bounds(self) -> StreamBounds: ...


@dataclass(frozen=True)
class EventFilter:
    """The list's filters, as far as an event tells: its box, class and state. A state filter
    takes the events of reports in that state before or after the change, so a watcher also
    hears that a report left it."""

    bbox: BoundingBox | None = None
    code: str | None = None
    state: str | None = None

    def matches(self, event: ReportEvent) -> bool:
        location = event.location
        return (
            (self.code is None or event.code == self.code)
            and (self.state is None or self.state in (event.state, event.previous_state))
            and (self.bbox is None or (location is not None and self.bbox.contains(location)))
        )


class ListenerClosed(Exception):
    def __init__(self, reason: FeedClosing) -> None:
        super().__init__(reason)
        self.reason = reason


class Listener:
    """One client's events, in stream order, at most `capacity` waiting."""

    def __init__(self, event_filter: EventFilter, capacity: int) -> None:
        self.filter = event_filter
        self._capacity = capacity
        self._events: deque[ReportEvent] = deque()
        self._wake = asyncio.Event()
        self.closing: FeedClosing | None = None

    def offer(self, event: ReportEvent) -> None:
        if self.closing is not None or not self.filter.matches(event):
            return
        if len(self._events) >= self._capacity:
            self.close("behind")
            return
        self._events.append(event)
        self._wake.set()

    def close(self, reason: FeedClosing) -> None:
        if self.closing is None:
            self.closing = reason
            self._events.clear()
            self._wake.set()

    async def next(self, timeout_s: float) -> ReportEvent | None:
        """The next event; None when none came within `timeout_s`. Raises ListenerClosed."""
        if not self._events and self.closing is None:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._wake.wait()
        if self.closing is not None:
            raise ListenerClosed(self.closing)
        return self._events.popleft() if self._events else None


class ReportFeed:
    def __init__(
        self,
        source: EventSource,
        *,
        queue_size: int,
        max_listeners: int,
        block_ms: int,
        retry_after_s: int,
    ) -> None:
        self.source = source
        self._queue_size = queue_size
        self._max_listeners = max_listeners
        self._block_ms = block_ms
        self._retry_after_s = retry_after_s
        self._listeners: set[Listener] = set()
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._stopped = False
        # Set once the reader knows where it starts: a listener that then reads the stream up
        # to now, and takes the reader's events after that, misses nothing.
        self.ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._listeners)

    def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="report-feed-reader")

    async def aclose(self) -> None:
        await self.close_all()
        self._stopped = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            # redis-py may turn the cancellation of a blocked XREAD into a connection error,
            # which the loop would take for an outage and go on: the flag ends it at its next
            # turn, within one blocking read and one pause.
            await asyncio.wait({reader}, timeout=self._block_ms / 1000 + RETRY_S + 1)

    def listen(self, event_filter: EventFilter) -> Listener:
        """A new listener, or 503 while the feed cannot take one (starting, full, closing)."""
        if self._closing or not self.ready.is_set():
            detail = "The service is shutting down" if self._closing else "Events are not readable"
            raise ServiceUnavailable(f"{detail}; retry.", retry_after=self._retry_after_s)
        if len(self._listeners) >= self._max_listeners:
            raise ServiceUnavailable(
                "Too many event feeds are open here; retry.", retry_after=self._retry_after_s
            )
        listener = Listener(event_filter, self._queue_size)
        self._listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    async def close_all(self) -> None:
        """On shutdown: every listener's answer ends (clients reconnect elsewhere)."""
        self._closing = True
        for listener in list(self._listeners):
            listener.close("shutdown")

    async def _read(self) -> None:
        last = await self._start_position()
        self.ready.set()
        failing = False
        while not self._stopped:
            try:
                events = await self.source.wait_for_events(
                    last, block_ms=self._block_ms, count=READ_BATCH
                )
            except (RedisError, OSError) as exc:
                if self._stopped:
                    return
                if not failing:
                    # The class only: a Redis error's message can quote the server's address.
                    log.warning("report_feed_unreadable", error=type(exc).__name__)
                failing = True
                await asyncio.sleep(RETRY_S)
                continue
            if failing:
                log.info("report_feed_readable")
                failing = False
            for event in events:
                last = event.id
                for listener in list(self._listeners):
                    listener.offer(event)

    async def _start_position(self) -> EventId:
        while not self._stopped:
            try:
                bounds = await self.source.event_bounds()
            except (RedisError, OSError) as exc:
                log.warning("report_feed_unreadable", error=type(exc).__name__)
                await asyncio.sleep(RETRY_S)
                continue
            return bounds.last or EventId(0, 0)
        return EventId(0, 0)
