"""Coverage as GeoJSON (RFC 7946: positions are lon, lat; a polygon's outer ring runs
counterclockwise and ends where it starts), served as `application/geo+json`."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from roadhazard.coverage.service import CoverageView, Track
from roadhazard.coverage.store import ScannedCell
from roadhazard.reports.cells import bounds

Position = tuple[float, float]


class PolygonGeometry(BaseModel):
    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[Position]] = Field(description="One ring: the cell's corners, lon, lat.")


class CellProperties(BaseModel):
    cell: str = Field(description="The cell's geohash; its length is the answer's `precision`.")
    last_scanned_at: dt.datetime
    passes: int = Field(
        description="Passes through the cell: a session's frames there, "
        "less than the pass gap apart, are one pass."
    )
    sessions: list[str] = Field(description="The sessions of the latest passes, oldest first.")


class CellFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: PolygonGeometry
    properties: CellProperties


class CoverageOut(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    precision: int = Field(description="Characters of the cells' geohashes (7: about 150 m).")
    max_cells: int = Field(description="The most cells an answer holds.")
    features: list[CellFeature]

    @classmethod
    def from_view(cls, view: CoverageView, max_cells: int) -> CoverageOut:
        return cls(
            precision=view.precision,
            max_cells=max_cells,
            features=[_cell_feature(cell) for cell in view.cells],
        )


def _cell_feature(cell: ScannedCell) -> CellFeature:
    box = bounds(cell.geohash)
    ring = [
        (box.min_lon, box.min_lat),
        (box.max_lon, box.min_lat),
        (box.max_lon, box.max_lat),
        (box.min_lon, box.max_lat),
        (box.min_lon, box.min_lat),
    ]
    return CellFeature(
        geometry=PolygonGeometry(coordinates=[ring]),
        properties=CellProperties(
            cell=cell.geohash,
            last_scanned_at=cell.last_scanned_at,
            passes=cell.passes,
            sessions=list(cell.sessions),
        ),
    )


class LineStringGeometry(BaseModel):
    type: Literal["LineString"] = "LineString"
    coordinates: list[Position] = Field(description="lon, lat; two positions or more.")


class TrackProperties(BaseModel):
    session_id: str
    points: int = Field(description="GPS points recorded (the line is thinned from them).")
    started_at: dt.datetime | None
    ended_at: dt.datetime | None


class TrackOut(BaseModel):
    """A Feature; its geometry is null until the session has two located frames."""

    type: Literal["Feature"] = "Feature"
    geometry: LineStringGeometry | None
    properties: TrackProperties

    @classmethod
    def from_track(cls, track: Track) -> TrackOut:
        line = [(lon, lat) for lat, lon in track.line]
        return cls(
            geometry=LineStringGeometry(coordinates=line) if len(line) >= 2 else None,
            properties=TrackProperties(
                session_id=track.session_id,
                points=track.points,
                started_at=track.started_at,
                ended_at=track.ended_at,
            ),
        )
