"""Scan coverage: which cells sessions drove through, when, and how often; and each session's
track for display. The sessions service records every located frame here (one Redis call).

A view asks for the cells that cover its box at the finest precision that needs at most
MAX_CELLS of them; a larger view gets coarser cells (each precision is kept by every frame), so
an answer never holds more than MAX_CELLS features and costs one pipelined read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from roadhazard.coverage.store import PRECISIONS, CoverageStore, Scan, ScannedCell, TrackPoint
from roadhazard.coverage.thinning import thin
from roadhazard.reports.cells import covering
from roadhazard.reports.listing import BoundingBox

MAX_CELLS = 1024
MAX_TRACK_POINTS = 500

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CoverageView:
    precision: int
    cells: list[ScannedCell]


@dataclass(frozen=True)
class Track:
    """A session's track: `line` thinned for display (lat, lon), from `points` recorded."""

    session_id: str
    points: int
    line: list[tuple[float, float]]
    started_at: datetime | None
    ended_at: datetime | None


class CoverageService:
    def __init__(self, store: CoverageStore, *, clock: Clock = _utc_now) -> None:
        self._store = store
        self._clock = clock

    async def record(self, scan: Scan, *, now: datetime) -> bool | None:
        """Records a located frame; True when it began a new pass of its cell."""
        return await self._store.record(scan, now=now)

    async def view(self, box: BoundingBox, since: datetime | None) -> CoverageView:
        """The cells in `box` scanned since `since` (and within the retention)."""
        grid = covering(box, PRECISIONS[0])
        while grid.size > MAX_CELLS and grid.precision > PRECISIONS[-1]:
            grid = covering(box, grid.precision - 1)
        kept_since = self._clock() - timedelta(milliseconds=self._store.retention_ms)
        if since is not None:
            kept_since = max(kept_since, since)
        cells = await self._store.cells(grid.geohashes(), since=kept_since)
        return CoverageView(precision=grid.precision, cells=cells)

    async def track(self, session_id: str) -> Track:
        points = await self._store.track(session_id)
        # Douglas-Peucker over up to the track cap: milliseconds of arithmetic, off the loop.
        line = await asyncio.to_thread(thin, [(p.lat, p.lon) for p in points], MAX_TRACK_POINTS)
        return Track(
            session_id=session_id,
            points=len(points),
            line=line,
            started_at=points[0].captured_at if points else None,
            ended_at=points[-1].captured_at if points else None,
        )


__all__ = ["CoverageService", "CoverageView", "Scan", "Track", "TrackPoint"]
