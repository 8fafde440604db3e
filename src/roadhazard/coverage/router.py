"""GET /v1/coverage: the cells sessions scanned in a box, as GeoJSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from roadhazard.access.dependencies import ReaderDep
from roadhazard.coverage.dependencies import CoverageServiceDep
from roadhazard.coverage.schemas import CoverageOut
from roadhazard.coverage.service import MAX_CELLS
from roadhazard.inputs import UtcDatetime
from roadhazard.ratelimit import rate_limit
from roadhazard.reports.cluster_schemas import GeoJSONResponse
from roadhazard.reports.filters import BBOX_PATTERN, parse_bbox
from roadhazard.schemas import problem_responses

router = APIRouter(prefix="/v1/coverage", tags=["coverage"], responses=problem_responses(401, 403))


@router.get(
    "",
    response_model=CoverageOut,
    response_class=GeoJSONResponse,
    responses=problem_responses(422, 429),
    dependencies=[Depends(rate_limit("reads"))],
    description=(
        "The cells sessions scanned in `bbox` as a GeoJSON FeatureCollection "
        "(`application/geo+json`, positions lon,lat): a Polygon a cell with `last_scanned_at`, "
        "`passes` and `sessions`, scanned since `since` and within the retention. A large box "
        "gets coarser cells (shorter geohashes: `precision`), so an answer holds at most "
        f"{MAX_CELLS:,} cells."
    ),
)
async def coverage(
    _: ReaderDep,
    service: CoverageServiceDep,
    bbox: Annotated[
        str, Query(description="min_lon,min_lat,max_lon,max_lat", pattern=BBOX_PATTERN)
    ],
    since: UtcDatetime | None = None,
) -> CoverageOut:
    view = await service.view(parse_bbox(bbox), since)
    return CoverageOut.from_view(view, MAX_CELLS)
