"""The query parameters that choose reports, shared by every endpoint that lists them: the list,
the map, the GIS exports and the live feed of report events. One set of names and checks, so a
filter means the same wherever it is sent."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Query

from roadhazard.errors import Unprocessable
from roadhazard.inputs import GEO_MAX_LAT, UtcDatetime
from roadhazard.reports.listing import BoundingBox, ReportQuery
from roadhazard.reports.models import GeoPoint
from roadhazard.reports.states import ReportState, ReportStatus
from roadhazard.taxonomy.schemas import Severity

# What the geo index can search, as the document states it and the query is checked: lat
# within ±85.050999… (just inside GEO_MAX_LAT, which parse_bbox checks), lon within ±180.
_LAT = r"[-+]?(?:[0-9]|[1-7][0-9]|8[0-4])(?:\.[0-9]+)?|[-+]?85(?:\.0[0-4][0-9]*|\.050[0-9]*)?"
_LON = r"[-+]?(?:[0-9]{1,2}|1[0-7][0-9])(?:\.[0-9]+)?|[-+]?180(?:\.0+)?"
NEAR_PATTERN = rf"^(?:{_LAT}),(?:{_LON})$"
BBOX_PATTERN = rf"^(?:{_LON}),(?:{_LAT}),(?:{_LON}),(?:{_LAT})$"

ServiceCode = Annotated[str | None, Query(max_length=64)]
BboxText = Annotated[
    str | None, Query(description="min_lon,min_lat,max_lon,max_lat", pattern=BBOX_PATTERN)
]
SortOrder = Annotated[str, Query(pattern="^(newest|oldest)$")]


def _float_list(raw: str, size: int, name: str) -> list[float]:
    try:
        values = [float(part) for part in raw.split(",")]
    except ValueError:
        values = []
    if len(values) != size or not all(map(math.isfinite, values)):
        raise Unprocessable(f"`{name}` must be {size} comma-separated numbers.")
    return values


def _valid_lat(lat: float) -> bool:
    return -GEO_MAX_LAT <= lat <= GEO_MAX_LAT


_LIMITS = f"lat within ±{GEO_MAX_LAT} (the geo index's limit), lon within ±180"


def parse_bbox(raw: str) -> BoundingBox:
    """`bbox`: min_lon,min_lat,max_lon,max_lat, in order, in range (422 otherwise)."""
    box = BoundingBox(*_float_list(raw, 4, "bbox"))
    if not (
        -180 <= box.min_lon <= box.max_lon <= 180
        and _valid_lat(box.min_lat)
        and box.min_lat <= box.max_lat
        and _valid_lat(box.max_lat)
    ):
        raise Unprocessable(f"`bbox` must be min_lon,min_lat,max_lon,max_lat with {_LIMITS}.")
    return box


def report_filters(
    status: ReportStatus | None = None,
    state: ReportState | None = None,
    service_code: ServiceCode = None,
    severity: Severity | None = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    session_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,128}$")] = None,
    since: UtcDatetime | None = None,
    until: UtcDatetime | None = None,
) -> ReportQuery:
    """The filters the list, the map and the exports share, with the same names and checks."""
    return ReportQuery(
        status=status,
        state=state,
        code=service_code,
        severity=severity,
        min_confidence=min_confidence,
        session_id=session_id,
        since=since,
        until=until,
    )


ReportFilters = Annotated[ReportQuery, Depends(report_filters)]


@dataclass(frozen=True)
class ReportArea:
    """Where the reports are: around `near` within `radius_m`, and/or inside `bbox`."""

    near: GeoPoint | None = None
    radius_m: float | None = None
    bbox: BoundingBox | None = None

    def applied_to(self, query: ReportQuery) -> ReportQuery:
        return replace(query, near=self.near, radius_m=self.radius_m, bbox=self.bbox)


def report_area(
    near: Annotated[str | None, Query(description="lat,lon", pattern=NEAR_PATTERN)] = None,
    radius_m: Annotated[float | None, Query(gt=0, le=100_000)] = None,
    bbox: BboxText = None,
) -> ReportArea:
    """The list's and the exports' area filters (the map's `bbox` is required: its own)."""
    area = ReportArea()
    if near is not None:
        lat, lon = _float_list(near, 2, "near")
        if not (_valid_lat(lat) and -180 <= lon <= 180) or radius_m is None:
            raise Unprocessable(f"`near` needs lat,lon with {_LIMITS}, and `radius_m`.")
        area = ReportArea(near=GeoPoint(lat, lon), radius_m=radius_m)
    if bbox is not None:
        area = replace(area, bbox=parse_bbox(bbox))
    return area


ReportAreaFilters = Annotated[ReportArea, Depends(report_area)]
