"""The GIS exports' formats: a GeoJSON FeatureCollection and CSV, written batch by batch.

Both carry the same flat properties, one per column: what `ReportOut` shows, with its nested
objects flattened (the address's parts as `address_*`, the detection as `detection_*`), its
lists joined with commas (tags and ids never hold one) and the state history JSON-encoded, so
that QGIS or ArcGIS shows every field in its attribute table.

GeoJSON follows RFC 7946: positions are lon, lat; a report without a position (one filed with
an address still being geocoded) is a Feature whose geometry is null (§3.2). The collection ends
with a foreign member, `truncated`, true when the export stopped at its limit
(ROADHAZARD_EXPORT_MAX_REPORTS) with more reports left.

CSV (RFC 4180, the csv module's quoting) adds `lat`, `lon` and `wkt` (`POINT(lon lat)`, empty
without a position). Text a person wrote (description, tags, address) is guarded against
formula injection: a cell that begins with = + - @ tab or carriage return gets a leading `'`,
so a spreadsheet shows it as text instead of running it (OWASP's advice for CSV injection).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from geojson_pydantic import Feature, FeatureCollection, Point
from pydantic import BaseModel, Field

from roadhazard.reports.models import Report
from roadhazard.reports.schemas import ReportOut

CSV_MEDIA_TYPE = "text/csv"

# Cells a spreadsheet would read as a formula (or, after a tab or CR, as the start of one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GUARDED_COLUMNS = frozenset({"description", "tags", "address"})


class ExportProperties(BaseModel):
    """One report's public fields, flat."""

    service_request_id: str
    service_code: str
    service_name: str
    status: str
    state: str
    severity: str | None
    description: str | None
    tags: str = Field(description="Comma-separated.")
    address: str | None
    address_city: str | None
    address_postcode: str | None
    address_country_code: str | None
    address_status: str | None
    media_url: str | None
    image_url: str | None = Field(description="This API's URL of the original image.")
    annotated_image_url: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    last_seen: datetime
    detection_class: str | None
    detection_confidence: float | None
    session_id: str | None
    duplicate_of: str | None
    duplicates: str = Field(description="Comma-separated report ids.")
    confirmations: int
    history: str = Field(description='JSON: [{"state": ..., "at": ...}, ...], oldest first.')

    @classmethod
    def of(cls, out: ReportOut) -> ExportProperties:
        address = out.address_details
        images = out.images
        return cls(
            service_request_id=out.service_request_id,
            service_code=out.service_code,
            service_name=out.service_name,
            status=out.status.value,
            state=out.state.value,
            severity=out.severity.value if out.severity else None,
            description=out.description,
            tags=",".join(out.tags),
            address=out.address,
            address_city=address.city if address else None,
            address_postcode=address.postcode if address else None,
            address_country_code=address.country_code if address else None,
            address_status=out.address_status,
            media_url=out.media_url,
            image_url=images.original.url if images.original else None,
            annotated_image_url=images.annotated.url if images.annotated else None,
            requested_datetime=out.requested_datetime,
            updated_datetime=out.updated_datetime,
            last_seen=out.last_seen,
            detection_class=out.detection.class_name if out.detection else None,
            detection_confidence=out.detection.confidence if out.detection else None,
            session_id=out.session_id,
            duplicate_of=out.duplicate_of,
            duplicates=",".join(out.duplicates),
            confirmations=out.confirmations,
            history=json.dumps(
                [{"state": t.state.value, "at": _iso(t.at)} for t in out.history],
                separators=(",", ":"),
            ),
        )


# Its geometry may be null (a report without a position).
ExportFeature = Feature[Point, ExportProperties]


class ExportCollection(FeatureCollection[ExportFeature]):
    """What `GET /v1/reports.geojson` streams (the document's description of it)."""

    truncated: bool = Field(
        description="True when the export stopped at ROADHAZARD_EXPORT_MAX_REPORTS with more "
        "reports matching (a foreign member, RFC 7946 §6.1)."
    )


CSV_COLUMNS = (*ExportProperties.model_fields, "lat", "lon", "wkt")


def export_feature(out: ReportOut) -> ExportFeature:
    geometry = None
    if out.lat is not None and out.long is not None:
        geometry = Point(type="Point", coordinates=(out.long, out.lat))
    return ExportFeature(
        type="Feature",
        id=out.service_request_id,
        geometry=geometry,
        properties=ExportProperties.of(out),
    )


Render = Callable[[Report], ReportOut]


async def geojson_chunks(
    batches: AsyncIterator[list[Report]], render: Render, truncated: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """The FeatureCollection, one chunk per batch; `truncated()` is asked at the end."""
    yield b'{"type":"FeatureCollection","features":['
    separator = b"\n"
    async for batch in batches:
        # Rendering takes about 0.1 ms a report: in a thread, so the event loop gets the GIL
        # back every switch interval instead of waiting for the whole batch.
        yield separator + await asyncio.to_thread(_features, batch, render)
        separator = b",\n"
    yield b'\n],"truncated":' + (b"true" if truncated() else b"false") + b"}\n"


async def csv_chunks(batches: AsyncIterator[list[Report]], render: Render) -> AsyncIterator[bytes]:
    """A header row, then one chunk of rows per batch."""
    yield _csv_rows([list(CSV_COLUMNS)])
    async for batch in batches:
        yield await asyncio.to_thread(_rows, batch, render)


def _features(batch: list[Report], render: Render) -> bytes:
    return b",\n".join(export_feature(render(r)).model_dump_json().encode() for r in batch)


def _rows(batch: list[Report], render: Render) -> bytes:
    return _csv_rows([_csv_row(render(r)) for r in batch])


def _csv_row(out: ReportOut) -> list[str]:
    properties = ExportProperties.of(out).model_dump(mode="json")
    cells = [_cell(name, value) for name, value in properties.items()]
    if out.lat is None or out.long is None:
        return [*cells, "", "", ""]
    lat, lon = repr(out.lat), repr(out.long)
    return [*cells, lat, lon, f"POINT({lon} {lat})"]


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    if name in GUARDED_COLUMNS and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _csv_rows(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
