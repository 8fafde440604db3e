"""GET /v1/reports.geojson and GET /v1/reports.csv: every report the list's filters match, for
GIS tools, streamed (formats in `roadhazard.reports.export_formats`).

An export is read and written one batch at a time (`roadhazard.reports.walk`), so its memory
does not grow with its size, and it is not refused for an area of more than the list's 5,000
reports. The first batch is read before the answer starts: a refusal or an outage at the start
is a problem document; one after it (a Redis call over ROADHAZARD_EXPORT_REDIS_TIMEOUT_S) ends
the transfer unfinished, which HTTP clients report as an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import StreamingResponse

from roadhazard.access.dependencies import ReaderDep
from roadhazard.ratelimit import rate_limit
from roadhazard.reports.cluster_schemas import GEOJSON_MEDIA_TYPE, GeoJSONResponse
from roadhazard.reports.dependencies import ReportsServiceDep
from roadhazard.reports.export_formats import (
    CSV_MEDIA_TYPE,
    ExportCollection,
    Render,
    csv_chunks,
    geojson_chunks,
)
from roadhazard.reports.filters import ReportAreaFilters, ReportFilters, SortOrder
from roadhazard.reports.listing import ReportQuery
from roadhazard.reports.models import Report
from roadhazard.reports.schemas import ReportOut
from roadhazard.reports.service import ReportsService
from roadhazard.reports.walk import ReportWalk, WalkLimits
from roadhazard.schemas import problem_responses
from roadhazard.settings import Settings, SettingsDep

# Counted as one read, like a page of the list: the limiter has no weights.
export_router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    dependencies=[Depends(rate_limit("reads"))],
    responses=problem_responses(401, 422, 429, 503),
)


class GeoJSONStream(StreamingResponse):
    media_type = GEOJSON_MEDIA_TYPE


class CSVStream(StreamingResponse):
    media_type = CSV_MEDIA_TYPE


def export_query(
    filters: ReportFilters, area: ReportAreaFilters, sort: SortOrder = "newest"
) -> ReportQuery:
    """The list's filters and order, over any area."""
    return replace(area.applied_to(filters), order="newest" if sort == "newest" else "oldest")


ExportQuery = Annotated[ReportQuery, Depends(export_query)]

_FILTERS = (
    "Filters as in the list (`GET /v1/reports`), `near` and `bbox` included, over any area; "
    "`sort` as there. Streamed; at most ROADHAZARD_EXPORT_MAX_REPORTS reports."
)


@export_router.get(
    ".geojson",
    response_model=ExportCollection,
    # What the document says (a JSON body of this model); the answer is a GeoJSONStream.
    response_class=GeoJSONResponse,
    description=(
        "The reports as a GeoJSON FeatureCollection (RFC 7946, `application/geo+json`, "
        "positions lon,lat), one Feature per report, its id the report's, its properties the "
        "report's fields made flat; a report without a position has a null geometry. "
        "`truncated` says whether the export stopped at its limit. " + _FILTERS
    ),
)
async def export_geojson(
    _: ReaderDep,
    service: ReportsServiceDep,
    settings: SettingsDep,
    query: ExportQuery,
) -> GeoJSONStream:
    walk, batches = await _start(service, settings, query)
    return GeoJSONStream(
        geojson_chunks(batches, _renderer(service), lambda: walk.truncated),
        headers=_attachment("geojson"),
    )


_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A header row, then a row per report (RFC 4180).",
        "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


@export_router.get(
    ".csv",
    response_class=CSVStream,
    responses=_CSV_RESPONSE,
    description=(
        "The reports as CSV: the GeoJSON export's properties as columns, then `lat`, `lon` and "
        "`wkt` (`POINT(lon lat)`), empty for a report without a position. Description, tags "
        "and address cells that begin with = + - @ tab or CR get a leading ' (formula "
        "injection). " + _FILTERS
    ),
)
async def export_csv(
    _: ReaderDep,
    service: ReportsServiceDep,
    settings: SettingsDep,
    query: ExportQuery,
) -> CSVStream:
    _walk, batches = await _start(service, settings, query)
    return CSVStream(csv_chunks(batches, _renderer(service)), headers=_attachment("csv"))


async def _start(
    service: ReportsService, settings: Settings, query: ReportQuery
) -> tuple[ReportWalk, AsyncIterator[list[Report]]]:
    """The walk, and its batches, the first one read already (so that a failure to read it is
    answered as a problem, before the answer starts)."""
    walk = service.walk(
        query,
        WalkLimits(
            max_reports=settings.export_max_reports,
            call_timeout_s=settings.export_redis_timeout_s,
            retry_after_s=settings.retry_after_s,
        ),
    )
    batches = aiter(walk)
    first = await anext(batches, None)
    return walk, _prepend(first, batches)


async def _prepend(
    first: list[Report] | None, rest: AsyncIterator[list[Report]]
) -> AsyncIterator[list[Report]]:
    if first is None:
        return
    yield first
    async for batch in rest:
        yield batch


def _renderer(service: ReportsService) -> Render:
    def render(report: Report) -> ReportOut:
        return ReportOut.from_report(report, service.image_urls(report))

    return render


def _attachment(extension: str) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return {"Content-Disposition": f'attachment; filename="reports-{stamp}.{extension}"'}
