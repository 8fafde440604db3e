"""Every report a query matches, batch after batch: what the GIS exports stream.

The list answers one page and stops; an export goes on to the end, so it walks the store in
bounded batches and holds one batch at a time, however many reports match:

- With an area (`near`, `bbox`) of at most `AREA_MAX_CANDIDATES` reports, the list's way:
  GEOSEARCH, then their creation times, sorted, read in batches.
- A larger area is not refused as the list refuses it (a page of it would cost a scan of it
  all, an export reads it all anyway): the walk follows the index instead, as an unfiltered
  list does, and tests each report's position against the area.
- Otherwise the list's index walk: ZRANGE BYSCORE from the last position, batch by batch.

Each Redis call is bounded by `call_timeout_s`, beyond the client's own socket timeout (which a
slow answer that keeps trickling would never trip); past it the walk fails with 503.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from roadhazard.errors import ServiceUnavailable
from roadhazard.reports.listing import (
    AREA_MAX_CANDIDATES,
    EARTH_RADIUS_M,
    IndexBatches,
    ReportQuery,
    area_ids,
    in_time_range,
    iter_batches,
)
from roadhazard.reports.models import GeoPoint, Report
from roadhazard.reports.store import Position, ReportStore

WALK_BATCH = 250

T = TypeVar("T")


@dataclass(frozen=True)
class WalkLimits:
    max_reports: int
    call_timeout_s: float
    retry_after_s: int


class ReportWalk:
    """`async for batch in walk:` the matching reports, `WALK_BATCH` positions read at a time,
    at most `limits.max_reports` in all; `truncated` tells whether it stopped at that limit
    with more positions left to read."""

    def __init__(self, store: ReportStore, query: ReportQuery, limits: WalkLimits) -> None:
        self.store = store
        self.query = replace(query, cursor=None, limit=WALK_BATCH)
        self.limits = limits
        self.truncated = False

    async def __aiter__(self) -> AsyncIterator[list[Report]]:
        next_batch, check_area = await self._positions()
        left = self.limits.max_reports
        while left > 0:
            positions = await self._bounded(next_batch())
            if not positions:
                return
            reports = await self._bounded(self.store.get_many([pid for _, pid in positions]))
            found = [r for r in reports if self._matches(r, check_area)]
            if len(found) > left:
                self.truncated = True
                found = found[:left]
            left -= len(found)
            if found:
                yield found
        # Stopped at the limit: whether anything is left is one more read away.
        self.truncated = self.truncated or bool(await self._bounded(next_batch()))

    async def _positions(self) -> tuple[Callable[[], Awaitable[list[Position]]], bool]:
        """Where the positions come from, and whether each report's area must be tested."""
        query = self.query
        if query.near is None and query.bbox is None:
            return IndexBatches(self.store, query, None), False
        ids = await self._bounded(area_ids(self.store, query))
        if len(ids) > AREA_MAX_CANDIDATES:
            return IndexBatches(self.store, query, None), True
        positions = await self._bounded(self.store.scores(ids))
        return iter_batches(in_time_range(positions, query), WALK_BATCH), False

    def _matches(self, report: Report, check_area: bool) -> bool:
        """The query's filters (the box among them); the radius only where GEOSEARCH did not
        choose the positions."""
        query = self.query
        if not query.matches(report):
            return False
        if not check_area or query.near is None or query.radius_m is None:
            return True
        return report.location is not None and (
            distance_m(query.near, report.location) <= query.radius_m
        )

    async def _bounded(self, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.limits.call_timeout_s):
                return await call
        except TimeoutError:
            raise ServiceUnavailable(
                "Redis did not answer the export in time; retry.",
                retry_after=self.limits.retry_after_s,
            ) from None


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance (haversine) on the sphere Redis's geo commands use."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
