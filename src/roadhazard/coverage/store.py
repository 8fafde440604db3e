"""Coverage in Redis: each frame recorded by one script (`lua/record.lua`); cells and tracks
read with plain commands, in one pipelined round trip each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from redis.asyncio import Redis

from roadhazard.coverage import keys, scripts

# Finest first: 7 characters is about 150 m x 150 m (a road segment); the coarser cells answer
# views too large for the finest ones.
PRECISIONS = (7, 6, 5, 4, 3, 2)
# The bounds that keep a cell's record and a session's records small.
SESSIONS_PER_CELL = 8
SPANS_PER_CELL = 8


@dataclass(frozen=True)
class Scan:
    """One frame's position. `heading`: degrees from north, when the frame carries one."""

    session_id: str
    lat: float
    lon: float
    heading: float | None
    captured_at: datetime


@dataclass(frozen=True)
class ScannedCell:
    geohash: str
    last_scanned_at: datetime
    passes: int
    sessions: tuple[str, ...]


@dataclass(frozen=True)
class TrackPoint:
    captured_at: datetime
    lat: float
    lon: float
    heading: float | None


@dataclass(frozen=True)
class Limits:
    pass_gap_s: float
    retention_days: int
    session_ttl_s: int
    track_max_points: int


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _time(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class CoverageStore:
    def __init__(self, redis: Redis, limits: Limits) -> None:
        self._redis = redis
        self._limits = limits

    @property
    def retention_ms(self) -> int:
        return self._limits.retention_days * 86_400_000

    async def record(self, scan: Scan, *, now: datetime) -> bool | None:
        """Records the frame; True when it began a new pass of its cell, None when it is older
        than the retention (only its track point is kept)."""
        limits = self._limits
        heading = "" if scan.heading is None else f"{scan.heading:.1f}"
        reply = await scripts.RECORD.registered_on(self._redis)(
            keys=[keys.session_passes(scan.session_id), keys.session_track(scan.session_id)],
            args=[
                keys.COVERAGE_PREFIX,
                repr(scan.lat),
                repr(scan.lon),
                heading,
                _ms(scan.captured_at),
                _ms(now),
                scan.session_id,
                round(limits.pass_gap_s * 1000),
                self.retention_ms,
                limits.session_ttl_s * 1000,
                limits.track_max_points,
                SESSIONS_PER_CELL,
                SPANS_PER_CELL,
                *PRECISIONS,
            ],
        )
        return None if int(reply) < 0 else int(reply) == 1

    async def cells(self, geohashes: Sequence[str], *, since: datetime) -> list[ScannedCell]:
        """The cells among `geohashes` scanned at or after `since`."""
        pipe = self._redis.pipeline(transaction=False)
        for geohash in geohashes:
            pipe.hmget(keys.cell(geohash), "last_ms", "passes", "sessions")
        found: list[ScannedCell] = []
        since_ms = _ms(since)
        for geohash, (last_ms, passes, sessions) in zip(
            geohashes, await pipe.execute(), strict=True
        ):
            if last_ms is None or int(last_ms) < since_ms:
                continue
            found.append(
                ScannedCell(
                    geohash=geohash,
                    last_scanned_at=_time(int(last_ms)),
                    passes=int(passes or 0),
                    sessions=tuple(sessions.split(",")) if sessions else (),
                )
            )
        return found

    async def track(self, session_id: str) -> list[TrackPoint]:
        """The session's points in capture order (at most the track cap)."""
        members = cast(list[str], await self._redis.zrange(keys.session_track(session_id), 0, -1))
        points = []
        for member in members:
            ms, lat, lon, heading = member.split(",")
            points.append(
                TrackPoint(
                    _time(int(ms)), float(lat), float(lon), float(heading) if heading else None
                )
            )
        return points
