"""The reports' event stream: what the report scripts record, read back for the live feed.

Every script that changes a report adds an event to one Redis Stream (`keys.REPORT_EVENTS`) in
the same atomic step (lua/prelude.lua's `emit`): no report changes without its event, and no
event is written for a change that did not happen, whichever worker process made it. The
stream is trimmed to about `max_len` entries; its entry ids (`<ms>-<seq>`, in the order the
changes happened) are the events' ids, from which a client resumes.

Events: `report.created`; `report.duplicate` (a new report de-duplicated into another,
`duplicate_of`); `report.updated` with `changes`: `state` (with `previous_state`), `best_frame`,
`details` (description, tags, severity), `position`, `address`, `image`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from roadhazard.reports import keys
from roadhazard.reports.models import GeoPoint

# The stream's default length, as ROADHAZARD_EVENTS_MAX_LEN's default (settings imports no
# domain, so it cannot name this).
EVENTS_MAX_LEN = 10_000

EVENT_ID_PATTERN = r"^[0-9]{1,20}-[0-9]{1,20}$"
_EVENT_ID = re.compile(EVENT_ID_PATTERN)


@dataclass(frozen=True, order=True)
class EventId:
    """A stream entry id: milliseconds and a sequence number, ordered as Redis orders them."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, text: str) -> EventId:
        """Raises ValueError unless `text` is `<ms>-<seq>`."""
        if not _EVENT_ID.match(text):
            raise ValueError("an event id is <milliseconds>-<sequence>")
        ms, seq = text.split("-")
        return cls(int(ms), int(seq))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


@dataclass(frozen=True)
class ReportEvent:
    id: EventId
    type: str
    report_id: str
    code: str
    state: str
    location: GeoPoint | None
    at: str  # ISO 8601, UTC: when the service made the change
    changes: tuple[str, ...] = ()
    previous_state: str | None = None
    duplicate_of: str | None = None


@dataclass(frozen=True)
class StreamBounds:
    """The ids of the stream's first and last events; both None when it is empty."""

    first: EventId | None
    last: EventId | None


def decode(entry_id: str, fields: Mapping[str, str]) -> ReportEvent:
    lat, lon = fields.get("lat", ""), fields.get("lon", "")
    changes = fields.get("changes", "")
    return ReportEvent(
        id=EventId.parse(entry_id),
        type=fields["type"],
        report_id=fields["report_id"],
        code=fields["code"],
        state=fields["state"],
        location=GeoPoint(float(lat), float(lon)) if lat and lon else None,
        at=fields["at"],
        changes=tuple(changes.split(",")) if changes else (),
        previous_state=fields.get("previous_state") or None,
        duplicate_of=fields.get("duplicate_of") or None,
    )


class ReportEventLog:
    """Reads the stream. Writing is the report scripts' alone."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def after(self, last: EventId, count: int) -> list[ReportEvent]:
        """Up to `count` events after `last`, oldest first (XRANGE with an exclusive start)."""
        entries = await self.redis.xrange(keys.REPORT_EVENTS, f"({last}", "+", count=count)
        return _decoded(entries)

    async def wait_after(self, last: EventId, *, block_ms: int, count: int) -> list[ReportEvent]:
        """Up to `count` events after `last`, waiting at most `block_ms` for the first one.

        XREAD BLOCK holds its connection while it waits: one caller per process (the feed's
        reader), and `block_ms` below the client's socket timeout."""
        reply = await self.redis.xread({keys.REPORT_EVENTS: str(last)}, count=count, block=block_ms)
        streams = cast(list[Any], reply or [])
        return _decoded(streams[0][1]) if streams else []

    async def bounds(self) -> StreamBounds:
        """The first and last ids, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xrange(keys.REPORT_EVENTS, "-", "+", count=1)
            pipe.xrevrange(keys.REPORT_EVENTS, "+", "-", count=1)
            first, last = await pipe.execute()
        return StreamBounds(_first_id(first), _first_id(last))


def _decoded(entries: Any) -> list[ReportEvent]:
    return [decode(entry_id, fields) for entry_id, fields in cast(list[Any], entries)]


def _first_id(entries: list[Any]) -> EventId | None:
    return EventId.parse(entries[0][0]) if entries else None
