"""One `GET /v1/reports/events` answer: Server-Sent Events (text/event-stream) from the feed.

Wire format, per the HTML standard's event stream:

    retry: 3000                               once: reconnect after 3 s
    : heartbeat                               every ROADHAZARD_EVENTS_HEARTBEAT_S when quiet

    id: 1732918800000-0                       the stream entry's id
    event: report.created                     report.created | report.updated | report.duplicate
    data: {"type": "report.created", "report_id": ..., "service_code": ..., "lat": ...,
           "lon": ..., "state": ..., "at": ..., ...}      (one line of JSON)

A client that sends `Last-Event-ID` (EventSource does when it reconnects) first gets every
event after that id still in the stream, then the live ones, none twice. One whose id is older
than the stream's first event (trimmed away: it may have missed some), or unknown to it, gets
`event: reset` instead, whose `id:` is the stream's newest: it should reload what it shows; the
feed goes on from there.

The answer ends when the client leaves, when it falls `queue_size` events behind or stops
reading for SEND_TIMEOUT_S (it reconnects and resumes), and on shutdown (before uvicorn
stops, through the shutdown announcer's handover, so a balancer sends the reconnect elsewhere).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import structlog
from redis.exceptions import RedisError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from roadhazard.observability.metrics import change_open_report_feeds, count_report_feed_closed
from roadhazard.realtime.feed import Listener, ListenerClosed, ReportFeed
from roadhazard.reports.service import EventId, ReportEvent

log = structlog.get_logger(__name__)

EVENT_STREAM_MEDIA_TYPE = "text/event-stream"
RECONNECT_MS = 3000
# A client whose socket has taken nothing for this long has stopped reading: let go.
SEND_TIMEOUT_S = 10.0
REPLAY_BATCH = 500


def event_message(event: ReportEvent) -> bytes:
    location = event.location
    data: dict[str, Any] = {
        "type": event.type,
        "report_id": event.report_id,
        "service_code": event.code,
        "state": event.state,
        "lat": location.lat if location else None,
        "lon": location.lon if location else None,
        "at": event.at,
    }
    if event.changes:
        data["changes"] = list(event.changes)
    if event.previous_state:
        data["previous_state"] = event.previous_state
    if event.duplicate_of:
        data["duplicate_of"] = event.duplicate_of
    return message(str(event.id), event.type, data)


def message(event_id: str, kind: str, data: Mapping[str, Any]) -> bytes:
    # JSON escapes every line break, so `data` is one line, as the format needs.
    text = json.dumps(data, separators=(",", ":"))
    return f"id: {event_id}\nevent: {kind}\ndata: {text}\n\n".encode()


HEARTBEAT = b": heartbeat\n\n"
OPENING = f"retry: {RECONNECT_MS}\n: connected\n\n".encode()


class _ClientLeft(Exception):
    pass


class EventStreamResponse(Response):
    """Streams one listener's events until it is closed, the client leaves, or it stalls.
    The listener leaves the feed however the answer ends."""

    media_type = EVENT_STREAM_MEDIA_TYPE

    def __init__(
        self,
        feed: ReportFeed,
        listener: Listener,
        *,
        resume_after: EventId | None,
        heartbeat_s: float,
    ) -> None:
        # As StreamingResponse does: no body, so no Content-Length (the body is chunked).
        self.status_code = 200
        self.background = None
        # No-store for caches; X-Accel-Buffering: no, so nginx passes each event on at once.
        self.init_headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self.feed = feed
        self.listener = listener
        self.resume_after = resume_after
        self.heartbeat_s = heartbeat_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        change_open_report_feeds(+1)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            writer = asyncio.create_task(self._write(send), name="report-feed-writer")
            watcher = asyncio.create_task(_until_client_leaves(receive), name="report-feed-exit")
            try:
                await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (writer, watcher):
                    task.cancel()
                await asyncio.gather(writer, watcher, return_exceptions=True)
            if not (watcher.done() and not watcher.cancelled()) and _ended_by_service(writer):
                # The body ends properly; the client reconnects (and resumes).
                await _send_quietly(send, b"", more=False)
        finally:
            self.feed.leave(self.listener)
            change_open_report_feeds(-1)

    async def _write(self, send: Send) -> None:
        try:
            await _send(send, OPENING)
            last = await self._replay(send)
            while True:
                event = await self.listener.next(self.heartbeat_s)
                if event is None:
                    await _send(send, HEARTBEAT)
                elif last is None or event.id > last:
                    await _send(send, event_message(event))
        except ListenerClosed as closed:
            count_report_feed_closed(closed.reason)
            log.info("report_feed_closed", reason=closed.reason)
        except TimeoutError:
            count_report_feed_closed("stalled")
            log.info("report_feed_closed", reason="stalled")
        except (RedisError, OSError) as exc:
            # Replaying needs Redis; without it the client retries, and resumes then.
            log.warning("report_feed_replay_failed", error=type(exc).__name__)

    async def _replay(self, send: Send) -> EventId | None:
        """The events after the client's last one, or a reset; the last id sent, below which
        the listener's own events are not sent again."""
        after = self.resume_after
        if after is None:
            return None
        source = self.feed.source
        bounds = await source.event_bounds()
        if (
            bounds.first is None
            or bounds.last is None
            or not (bounds.first <= after <= bounds.last)
        ):
            latest = bounds.last or after
            await _send(send, _reset(latest, after, bounds.first))
            return latest
        while True:
            events = await source.events_after(after, REPLAY_BATCH)
            for event in events:
                if self.listener.filter.matches(event):
                    await _send(send, event_message(event))
                after = event.id
            if len(events) < REPLAY_BATCH:
                return after


def _reset(latest: EventId, asked: EventId, first: EventId | None) -> bytes:
    behind = first is not None and asked < first
    return message(
        str(latest),
        "reset",
        {
            "type": "reset",
            "reason": "too_far_behind" if behind else "unknown_id",
            "detail": "Events after the given id are no longer kept; reload, then go on "
            "from this event's id.",
        },
    )


async def _send(send: Send, body: bytes) -> None:
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await send({"type": "http.response.body", "body": body, "more_body": True})
    except OSError:  # uvicorn: the client has gone
        raise _ClientLeft() from None


def _ended_by_service(writer: asyncio.Task[None]) -> bool:
    """The writer returned (the listener was closed, the client stalled, Redis failed): not
    cancelled, and not because the client left."""
    return writer.done() and not writer.cancelled() and writer.exception() is None


async def _send_quietly(send: Send, body: bytes, *, more: bool) -> None:
    """Best effort, briefly: a client that stopped reading cannot take even this."""
    try:
        async with asyncio.timeout(1.0):
            await send({"type": "http.response.body", "body": body, "more_body": more})
    except (OSError, TimeoutError):
        pass


async def _until_client_leaves(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
