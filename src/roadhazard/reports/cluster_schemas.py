"""The map's shapes: a GeoJSON FeatureCollection (RFC 7946: positions are lon, lat), served as
`application/geo+json`; and the daily counts of new reports."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from roadhazard.reports.cells import bounds
from roadhazard.reports.cluster_store import CellCount, ReportPoint
from roadhazard.reports.clusters import ClusterMap
from roadhazard.reports.states import ReportState, ReportStatus, status_of
from roadhazard.taxonomy.schemas import Severity

GEOJSON_MEDIA_TYPE = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON_MEDIA_TYPE


class PointGeometry(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="lon, lat (RFC 7946's order).")


class CellProperties(BaseModel):
    kind: Literal["cell"] = "cell"
    cell: str = Field(description="The cell's geohash; its length is the answer's `precision`.")
    count: int = Field(description="The cell's reports that match the filters.")
    bounds: tuple[float, float, float, float] = Field(
        description="The cell: min_lon, min_lat, max_lon, max_lat."
    )
    by_class: dict[str, int]
    by_state: dict[str, int]
    by_severity: dict[str, int] = Field(description="'unknown' counts reports without one.")


class ReportProperties(BaseModel):
    kind: Literal["report"] = "report"
    report_id: str
    service_code: str
    service_name: str
    state: ReportState
    status: ReportStatus
    severity: Severity | None
    confidence: float | None


class CellFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str = Field(description="'cell:' and the geohash.")
    geometry: PointGeometry = Field(description="The centroid of the cell's matching reports.")
    properties: CellProperties


class ReportFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str = Field(description="The report id.")
    geometry: PointGeometry
    properties: ReportProperties


class ClusterCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    zoom: int
    precision: int | None = Field(
        description="The cells' geohash length; null when the features are single reports."
    )
    features: list[CellFeature | ReportFeature]

    @classmethod
    def from_map(cls, found: ClusterMap) -> ClusterCollection:
        features: list[CellFeature | ReportFeature] = [_cell(c) for c in found.cells]
        features += [_report(r) for r in found.reports]
        return cls(zoom=found.zoom, precision=found.precision, features=features)


def _cell(cell: CellCount) -> CellFeature:
    lat, lon = cell.centroid
    box = bounds(cell.geohash)
    return CellFeature(
        id=f"cell:{cell.geohash}",
        geometry=PointGeometry(coordinates=(lon, lat)),
        properties=CellProperties(
            cell=cell.geohash,
            count=cell.count,
            bounds=(box.min_lon, box.min_lat, box.max_lon, box.max_lat),
            by_class=cell.by_class,
            by_state=cell.by_state,
            by_severity=cell.by_severity,
        ),
    )


def _report(point: ReportPoint) -> ReportFeature:
    state = ReportState(point.state)
    return ReportFeature(
        id=point.id,
        geometry=PointGeometry(coordinates=(point.lon, point.lat)),
        properties=ReportProperties(
            report_id=point.id,
            service_code=point.code,
            service_name=point.service_name,
            state=state,
            status=status_of(state),
            severity=None if point.severity == "unknown" else Severity(point.severity),
            confidence=point.confidence,
        ),
    )


class DayCountOut(BaseModel):
    date: dt.date = Field(description="A UTC day.")
    count: int = Field(description="Reports created that day.")


class DailyStatsOut(BaseModel):
    days: list[DayCountOut] = Field(description="Oldest first; the last one is today (UTC).")
