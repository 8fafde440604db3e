"""The report list: filters, order, and cursors that stay stable while reports are added.

How a page is found, and what it costs (N = reports in Redis, L = the page's limit):

- Without an area filter, the walk follows the most selective index the filters allow
  (session, then state, then class, then status, else by_time): ZRANGE BYSCORE from the cursor,
  O(log N + batch), then one pipelined HGETALL per candidate; filters the index does not cover
  (severity, min_confidence, ...) are checked on the report itself. The walk examines at most
  `SCAN_BUDGET` candidates per request; a page that hits the budget comes back short, with a
  cursor to continue from, so a rare filter never makes one request scan everything.
- With `near` or `bbox`, GEOSEARCH on `geo_all` yields the candidates in the area,
  O(log N + M), capped at `AREA_MAX_CANDIDATES` (a larger area is refused with 422, never
  answered partially); ZMSCORE gives their creation times, which are sorted and walked as
  above, O(M log M).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from roadhazard.errors import BadRequest, Unprocessable
from roadhazard.reports import keys
from roadhazard.reports.models import GeoPoint, Report
from roadhazard.reports.states import ReportState, ReportStatus
from roadhazard.reports.store import Position, ReportStore
from roadhazard.taxonomy.schemas import Severity
from roadhazard.timeutil import epoch_ms

Order = Literal["newest", "oldest"]

SCAN_BUDGET = 2000
AREA_MAX_CANDIDATES = 5000
EARTH_RADIUS_M = 6_372_797.560856  # the radius Redis's geo commands use


@dataclass(frozen=True)
class BoundingBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def contains(self, point: GeoPoint) -> bool:
        return (
            self.min_lon <= point.lon <= self.max_lon and self.min_lat <= point.lat <= self.max_lat
        )


@dataclass(frozen=True)
class ReportQuery:
    status: ReportStatus | None = None
    state: ReportState | None = None
    code: str | None = None
    severity: Severity | None = None
    min_confidence: float | None = None
    session_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    near: GeoPoint | None = None
    radius_m: float | None = None
    bbox: BoundingBox | None = None
    order: Order = "newest"
    cursor: str | None = None
    limit: int = 50

    def matches(self, report: Report) -> bool:
        location = report.location
        checks = (
            self.status is None or report.status == self.status,
            self.state is None or report.state == self.state,
            self.code is None or report.code == self.code,
            self.severity is None or report.severity == self.severity,
            self.min_confidence is None
            or (report.confidence is not None and report.confidence >= self.min_confidence),
            self.session_id is None or report.session_id == self.session_id,
            self.bbox is None or (location is not None and self.bbox.contains(location)),
        )
        return all(checks)


@dataclass(frozen=True)
class ReportPage:
    reports: list[Report]
    next_cursor: str | None


def encode_cursor(position: Position, order: Order) -> str:
    score, report_id = position
    raw = f"1:{order}:{score}:{report_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, cursor_order, score, report_id = raw.split(":")
        position = (int(score), report_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("The cursor is not one this service issued.") from None
    if version != "1" or cursor_order != order:
        raise BadRequest("The cursor belongs to a list in another order; start again.")
    return position


def _index_for(query: ReportQuery) -> str:
    if query.session_id is not None:
        return keys.reports_by_session(query.session_id)
    if query.state is not None:
        return keys.reports_by_state(query.state.value)
    if query.code is not None:
        return keys.reports_by_class(keys.class_token(query.code))
    if query.status is not None:
        return keys.reports_by_status(query.status.value)
    return keys.REPORTS_BY_TIME


def _box_size_m(box: BoundingBox) -> tuple[float, float]:
    """Width and height in metres of a search box that covers `box` (its widest parallel)."""
    widest_lat = 0.0 if box.min_lat <= 0 <= box.max_lat else min(abs(box.min_lat), abs(box.max_lat))
    metres_per_degree = math.pi * EARTH_RADIUS_M / 180
    width = (box.max_lon - box.min_lon) * metres_per_degree * math.cos(math.radians(widest_lat))
    height = (box.max_lat - box.min_lat) * metres_per_degree
    # A margin for rounding; the exact test against the box is done on each report.
    return width * 1.01 + 1, height * 1.01 + 1


async def list_reports(store: ReportStore, query: ReportQuery) -> ReportPage:
    newest_first = query.order == "newest"
    after = decode_cursor(query.cursor, query.order) if query.cursor else None
    if query.near is not None or query.bbox is not None:
        in_range = in_time_range(await _area_candidates(store, query), query)
        if after is not None:
            in_range = [p for p in in_range if (p < after if newest_first else p > after)]
        return await _fill(store, query, iter_batches(in_range), exhaustive=True)

    return await _fill(store, query, IndexBatches(store, query, after), exhaustive=False)


class IndexBatches:
    """The positions of the most selective index `query` allows, from `after` on, within its
    time range, batch after batch (each call one ZRANGE, or two at a cursor's millisecond)."""

    def __init__(self, store: ReportStore, query: ReportQuery, after: Position | None) -> None:
        self.store = store
        self.index = _index_for(query)
        self.newest_first = query.order == "newest"
        self.min_ms = epoch_ms(query.since) if query.since else None
        self.max_ms = epoch_ms(query.until) if query.until else None
        self.count = max(query.limit, 100)
        self.after = after

    async def __call__(self) -> list[Position]:
        batch = await self.store.page(
            self.index,
            newest_first=self.newest_first,
            after=self.after,
            min_ms=self.min_ms,
            max_ms=self.max_ms,
            count=self.count,
        )
        if batch:
            self.after = batch[-1]
        return batch


def iter_batches(positions: Sequence[Position], size: int = 200) -> _Batches:
    return _Batches(list(positions), size)


class _Batches:
    def __init__(self, positions: list[Position], size: int) -> None:
        self.positions = positions
        self.size = size
        self.start = 0

    async def __call__(self) -> list[Position]:
        batch = self.positions[self.start : self.start + self.size]
        self.start += self.size
        return batch


async def area_ids(store: ReportStore, query: ReportQuery) -> list[str]:
    """The ids in the query's area (`near` and/or `bbox`): at most AREA_MAX_CANDIDATES + 1, so
    a caller can tell an area that holds more than the cap."""
    if query.near is not None:
        if query.radius_m is None:
            raise Unprocessable("`near` needs `radius_m`.")
        ids = await store.near(query.near.lat, query.near.lon, query.radius_m, AREA_MAX_CANDIDATES)
        if query.bbox is not None:
            in_box = set(await _box_ids(store, query.bbox))
            ids = [report_id for report_id in ids if report_id in in_box]
        return ids
    assert query.bbox is not None
    return await _box_ids(store, query.bbox)


def in_time_range(positions: list[Position], query: ReportQuery) -> list[Position]:
    """The positions created within [since, until), in the query's order."""
    min_ms = epoch_ms(query.since) if query.since else None
    max_ms = epoch_ms(query.until) if query.until else None
    kept = [
        p
        for p in positions
        if (min_ms is None or p[0] >= min_ms) and (max_ms is None or p[0] < max_ms)
    ]
    kept.sort(reverse=query.order == "newest")
    return kept


async def _area_candidates(store: ReportStore, query: ReportQuery) -> list[Position]:
    ids = await area_ids(store, query)
    if len(ids) > AREA_MAX_CANDIDATES:
        raise Unprocessable(
            f"The area holds more than {AREA_MAX_CANDIDATES} reports; search a smaller one."
        )
    return await store.scores(ids)


def search_box(box: BoundingBox) -> tuple[float, float, float, float]:
    """A GEOSEARCH BYBOX that covers `box`: centre lon, centre lat, width and height in metres.
    It may hold more than `box`; callers test each report against the box itself."""
    width, height = _box_size_m(box)
    return (box.min_lon + box.max_lon) / 2, (box.min_lat + box.max_lat) / 2, width, height


async def _box_ids(store: ReportStore, box: BoundingBox) -> list[str]:
    centre_lon, centre_lat, width, height = search_box(box)
    return await store.in_box(centre_lat, centre_lon, width, height, AREA_MAX_CANDIDATES)


async def _fill(
    store: ReportStore,
    query: ReportQuery,
    next_batch: Callable[[], Awaitable[list[Position]]],
    *,
    exhaustive: bool,
) -> ReportPage:
    found: list[Report] = []
    examined = 0
    while True:
        batch = await next_batch()
        if not batch:
            return ReportPage(found, None)
        by_id = {r.id: r for r in await store.get_many([report_id for _, report_id in batch])}
        for position in batch:
            examined += 1
            report = by_id.get(position[1])
            if report is not None and query.matches(report):
                found.append(report)
                if len(found) == query.limit:
                    return ReportPage(found, encode_cursor(position, query.order))
            if not exhaustive and examined >= SCAN_BUDGET:
                return ReportPage(found, encode_cursor(position, query.order))
