"""The map's reads in Redis: cells from their counters, cells counted from the reports, single
reports, and the rebuild of the cells. Each read is one script call (scripts.py); the scripts
say what they cost, roadhazard.reports.clusters says when each is used.

The cells are written by the report scripts alone (lua/prelude.lua). `keys.report_cell`: `n`,
`lat_e6` and `lon_e6` (positions summed in microdegrees), `class:<code>`, `state:<state>`,
`severity:<severity>`; `keys.report_cell_combos`: per class|state|severity combination
`n:<combo>`, `lat_e6:<combo>` and `lon_e6:<combo>`. A sum that is 0 may be absent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from roadhazard.reports import keys, scripts

OVERFLOW = "overflow"


@dataclass(frozen=True)
class CountFilter:
    """The filters the cells' counters answer. `states`: those let through (None: all);
    `severity`: 'unknown' for reports without one."""

    states: frozenset[str] | None = None
    code: str | None = None
    severity: str | None = None

    def args(self) -> list[str]:
        states = "" if self.states is None else ",".join(sorted(self.states))
        return [states, self.code or "", self.severity or ""]


@dataclass(frozen=True)
class ScanFilter:
    """The filters only the reports answer: created in [min_ms, max_ms), session, confidence."""

    min_ms: int | None = None
    max_ms: int | None = None
    session_id: str | None = None
    min_confidence: float | None = None

    def args(self) -> list[str]:
        values = (self.min_ms, self.max_ms, self.session_id, self.min_confidence)
        return ["" if value is None else str(value) for value in values]


@dataclass(frozen=True)
class SearchArea:
    """Where the reports must lie (`edges`: min lon, min lat, max lon, max lat), and a
    GEOSEARCH box that covers it (centre and size in metres; it may hold more)."""

    edges: tuple[float, float, float, float]
    lon: float
    lat: float
    width_m: float
    height_m: float

    def args(self) -> list[str]:
        search = (self.lon, self.lat, self.width_m, self.height_m)
        return [repr(float(value)) for value in (*search, *self.edges)]


@dataclass(frozen=True)
class CellCount:
    geohash: str
    count: int
    lat_e6_sum: int
    lon_e6_sum: int
    by_class: dict[str, int]
    by_state: dict[str, int]
    by_severity: dict[str, int]

    @property
    def centroid(self) -> tuple[float, float]:
        """(lat, lon) of the mean position, to the microdegree the sums are kept in."""
        return (
            round(self.lat_e6_sum / self.count) / 1e6,
            round(self.lon_e6_sum / self.count) / 1e6,
        )


@dataclass(frozen=True)
class ReportPoint:
    id: str
    lon: float
    lat: float
    code: str
    service_name: str
    state: str
    severity: str  # 'unknown' for none
    confidence: float | None


class ClusterStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._read = scripts.CELLS_READ.registered_on(redis)
        self._scan = scripts.CELLS_SCAN.registered_on(redis)
        self._points = scripts.POINTS.registered_on(redis)
        self._rebuild = scripts.CELLS_REBUILD.registered_on(redis)

    async def read_cells(
        self, precision: int, geohashes: Sequence[str], counts: CountFilter
    ) -> list[CellCount]:
        """The cells' counters, over the reports `counts` lets through; empty cells left out."""
        reply = await self._read(
            keys=[keys.REPORTS_GEO_ALL],
            args=[keys.REPORTS_PREFIX, *counts.args(), precision, *geohashes],
        )
        return _cells(reply)

    async def scan_cells(
        self,
        precision: int,
        geohashes: Sequence[str],
        counts: CountFilter,
        scan: ScanFilter,
        area: SearchArea,
        cap: int,
    ) -> list[CellCount] | None:
        """The cells counted from the matching reports themselves; None when more than `cap`
        reports would have to be read."""
        reply = await self._scan(
            keys=[keys.REPORTS_GEO_ALL],
            args=[
                keys.REPORTS_PREFIX,
                *counts.args(),
                cap,
                *area.args(),
                *scan.args(),
                precision,
                *geohashes,
            ],
        )
        return None if reply[0] == OVERFLOW else _cells(reply[1])

    async def points(
        self, counts: CountFilter, scan: ScanFilter, area: SearchArea, cap: int
    ) -> list[ReportPoint] | None:
        """The matching reports in the area; None when more than `cap` would have to be read."""
        reply = await self._points(
            keys=[keys.REPORTS_GEO_ALL],
            args=[keys.REPORTS_PREFIX, *counts.args(), cap, *area.args(), *scan.args()],
        )
        if reply[0] == OVERFLOW:
            return None
        return [_point(row) for row in json.loads(reply[1])]

    # The rebuild (roadhazard.reports.clusters.ensure_cells)

    async def cells_version(self) -> str | None:
        return cast(str | None, await self.redis.get(keys.REPORT_CELLS_VERSION))

    async def mark_cells_version(self, version: str) -> None:
        await self.redis.set(keys.REPORT_CELLS_VERSION, version)

    async def add_to_cells(self, report_ids: Sequence[str]) -> int:
        """Counts the reports not yet in the cells into them; how many were added."""
        added = await self._rebuild(
            keys=[keys.REPORTS_BY_TIME], args=[keys.REPORTS_PREFIX, *report_ids]
        )
        return int(added)


def _cells(raw: str) -> list[CellCount]:
    return [
        CellCount(
            geohash=geohash,
            count=int(count),
            lat_e6_sum=int(lat_sum),
            lon_e6_sum=int(lon_sum),
            by_class=_counts(by_class),
            by_state=_counts(by_state),
            by_severity=_counts(by_severity),
        )
        for geohash, count, lat_sum, lon_sum, by_class, by_state, by_severity in json.loads(raw)
    ]


def _counts(raw: Any) -> dict[str, int]:
    # cjson writes an empty table as {}, and whole numbers as numbers.
    return {str(name): int(value) for name, value in dict(raw).items()}


def _point(row: list[Any]) -> ReportPoint:
    report_id, lon, lat, code, service_name, state, severity, confidence = row
    return ReportPoint(
        id=report_id,
        lon=float(lon),
        lat=float(lat),
        code=code,
        service_name=service_name,
        state=state,
        severity=severity,
        confidence=float(confidence) if confidence else None,
    )
