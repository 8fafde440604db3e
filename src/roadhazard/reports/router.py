"""/v1/reports: manual reports, the list and its filters, edits, state actions, stats, images.

Three routers, one per kind of caller, each guarded by its role: `read_router` (GET; public
unless ROADHAZARD_PUBLIC_READS is off), `write_router` (reporters file reports) and
`admin_router` (edits, state changes and deletion).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import RedirectResponse

from roadhazard.access.dependencies import AdminDep, ReaderDep, ReporterDep
from roadhazard.errors import Unprocessable
from roadhazard.ratelimit import client_identity, rate_limit
from roadhazard.reports.cells import MAX_CANDIDATE_CELLS, MAX_ZOOM, STREET_ZOOM
from roadhazard.reports.cluster_schemas import (
    ClusterCollection,
    DailyStatsOut,
    DayCountOut,
    GeoJSONResponse,
)
from roadhazard.reports.clusters import POINTS_CAP, SCAN_CAP
from roadhazard.reports.dependencies import ReportsServiceDep
from roadhazard.reports.export_router import export_router
from roadhazard.reports.filters import (
    BBOX_PATTERN,
    ReportAreaFilters,
    ReportFilters,
    SortOrder,
    parse_bbox,
)
from roadhazard.reports.images import ImageSource
from roadhazard.reports.models import (
    GeoPoint,
    IdempotencyKey,
    ManualReport,
    RenderedAnswer,
    Report,
    ReportChanges,
)
from roadhazard.reports.schemas import (
    LIST_LIMIT_MAX,
    POSITION,
    TAGS_FORM_FIELD,
    ManualReportIn,
    ReportListOut,
    ReportOut,
    ReportPatchIn,
    ReportStatsOut,
)
from roadhazard.reports.service import ReportsService
from roadhazard.reports.states import Action
from roadhazard.schemas import problem_responses
from roadhazard.taxonomy import load_taxonomy
from roadhazard.taxonomy.schemas import HazardType
from roadhazard.uploads import ImageUpload, Upload

read_router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    dependencies=[Depends(rate_limit("reads"))],
    responses=problem_responses(401, 429),
)
write_router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    dependencies=[Depends(rate_limit("reports"))],
    responses=problem_responses(401, 403, 429),
)
# Changing what a report says, its state, or deleting it is the maintenance team's call.
admin_router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    dependencies=[Depends(rate_limit("reports"))],
    responses=problem_responses(401, 403, 429),
)

IMAGE_FIELD = "image"


def _report_out(service: ReportsService, report: Report) -> ReportOut:
    return ReportOut.from_report(report, service.image_urls(report))


@read_router.get("", response_model=ReportListOut, responses=problem_responses(400, 422))
async def list_reports(
    _: ReaderDep,
    service: ReportsServiceDep,
    filters: ReportFilters,
    area: ReportAreaFilters,
    sort: SortOrder = "newest",
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = 50,
) -> ReportListOut:
    """Reports, newest first by default; `next_cursor` continues the list."""
    query = replace(
        area.applied_to(filters),
        order="newest" if sort == "newest" else "oldest",
        cursor=cursor,
        limit=limit,
    )
    page = await service.list(query)
    return ReportListOut(
        reports=[_report_out(service, r) for r in page.reports],
        next_cursor=page.next_cursor,
    )


# Declared before /{report_id}, which would otherwise take "stats" for an id.
@read_router.get("/stats", response_model=ReportStatsOut)
async def report_stats(_: ReaderDep, service: ReportsServiceDep) -> ReportStatsOut:
    """Counts by status, state, class and severity, the last 24 h, and the mean confidence."""
    return ReportStatsOut.model_validate(await service.stats(), from_attributes=True)


@read_router.get("/stats/daily", response_model=DailyStatsOut, responses=problem_responses(422))
async def report_stats_daily(
    _: ReaderDep,
    service: ReportsServiceDep,
    days: Annotated[int, Query(ge=1, le=366, description="How many UTC days, today's last.")] = 30,
) -> DailyStatsOut:
    """New reports per UTC day, oldest first."""
    counts = await service.daily_counts(days)
    return DailyStatsOut(days=[DayCountOut(date=day, count=count) for day, count in counts])


@read_router.get(
    "/clusters",
    response_model=ClusterCollection,
    response_class=GeoJSONResponse,
    responses=problem_responses(422),
    description=(
        "The reports in `bbox` as a GeoJSON FeatureCollection (`application/geo+json`, "
        "positions lon,lat) for a map at `zoom`: counts by geohash cell, the cells 32 to 128 "
        f"px wide at that zoom (coarser when the box needs more than {MAX_CANDIDATE_CELLS:,}); "
        f"from zoom {STREET_ZOOM}, single reports (cells of precision 7 past {POINTS_CAP:,} "
        "in the box). Filters as in the list; `since`, `until`, `session_id` and "
        "`min_confidence` are checked report by report, and refused (422) when more than "
        f"{SCAN_CAP:,} reports could match: zoom in, or drop them."
    ),
)
async def report_clusters(
    _: ReaderDep,
    service: ReportsServiceDep,
    filters: ReportFilters,
    bbox: Annotated[
        str, Query(description="min_lon,min_lat,max_lon,max_lat", pattern=BBOX_PATTERN)
    ],
    zoom: Annotated[int, Query(ge=0, le=MAX_ZOOM, description="The web map's zoom.")],
) -> ClusterCollection:
    found = await service.clusters(replace(filters, bbox=parse_bbox(bbox)), zoom)
    return ClusterCollection.from_map(found)


@read_router.get("/{report_id}", response_model=ReportOut, responses=problem_responses(404))
async def get_report(report_id: str, _: ReaderDep, service: ReportsServiceDep) -> ReportOut:
    return _report_out(service, await service.get(report_id))


_IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "The image."},
    307: {"description": "The image store serves it: follow `Location` (Cloudinary)."},
    **problem_responses(404),
}


def _image_response(source: ImageSource) -> Response:
    if source.redirect_url is not None:
        return RedirectResponse(source.redirect_url, status_code=307)
    assert source.image is not None
    return Response(source.image.data, media_type=source.image.content_type)


@read_router.get("/{report_id}/image", response_class=Response, responses=_IMAGE_RESPONSES)
async def get_image(report_id: str, _: ReaderDep, service: ReportsServiceDep) -> Response:
    """The frame the report was made from, as uploaded; while its upload to the image store
    is pending it is served from the queue, so it is available as soon as the report is."""
    return _image_response(await service.image(report_id, "original"))


@read_router.get(
    "/{report_id}/image/annotated", response_class=Response, responses=_IMAGE_RESPONSES
)
async def get_annotated_image(report_id: str, _: ReaderDep, service: ReportsServiceDep) -> Response:
    """The frame with the hazard's box and label drawn (JPEG)."""
    return _image_response(await service.image(report_id, "annotated"))


MANUAL_REPORT_UPLOAD = ImageUpload(
    IMAGE_FIELD,
    ManualReportIn,
    invalid_detail="The report is invalid.",
    image_required=False,
    together=POSITION,
    form_fields={"tags": TAGS_FORM_FIELD},
)


def _manual_report(upload: Upload[ManualReportIn]) -> ManualReport:
    image = upload.image_if_sent
    data = upload.params
    taxonomy = load_taxonomy()
    hazard = taxonomy.match(data.service_code)
    if hazard is None:
        known = ", ".join(h.code for h in taxonomy.hazards)
        raise Unprocessable(f"Unknown service_code {data.service_code!r}; use one of {known}.")
    hazard_type = HazardType(model_name=hazard.code, hazard=hazard)
    location = (
        GeoPoint(data.lat, data.lon, data.accuracy_m)
        if data.lat is not None and data.lon is not None
        else None
    )
    return ManualReport(
        hazard=hazard_type,
        location=location,
        description=data.description,
        tags=tuple(data.tags),
        severity=data.severity,
        image=image,
        address=data.address,
    )


@write_router.post(
    "",
    status_code=201,
    response_model=ReportOut,
    responses=problem_responses(400, 409, 413, 415, 422),
    openapi_extra=MANUAL_REPORT_UPLOAD.openapi_extra,
)
async def create_report(
    request: Request,
    response: Response,
    _: ReporterDep,
    service: ReportsServiceDep,
    upload: Annotated[Upload[ManualReportIn], Depends(MANUAL_REPORT_UPLOAD)],
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
) -> ReportOut | Response:
    """A manual report: JSON (image as base64, optional) or multipart with an `image` file.

    With `Idempotency-Key`, a retry of the same request gets the same answer; the same key
    with another payload is refused (422), and one still in progress answers 409. A key is
    the caller's own (its API key, else its address): another caller's equal key is another.
    """
    draft = _manual_report(upload)
    filed = await service.create_manual(
        draft,
        idempotency_key=(
            None
            if idempotency_key is None
            else IdempotencyKey(client_identity(request), idempotency_key)
        ),
    )
    if isinstance(filed, RenderedAnswer):
        # A replay of what the previous release stored: its answer, exactly as it was sent.
        return Response(
            filed.body,
            status_code=filed.status,
            media_type="application/json",
            headers={"Location": f"/v1/reports/{filed.report_id}"},
        )
    response.headers["Location"] = f"/v1/reports/{filed.report.id}"
    return _report_out(service, filed.report)


@admin_router.patch(
    "/{report_id}",
    response_model=ReportOut,
    # 400: a body that is not UTF-8 (FastAPI answers it before validation); 413: over
    # MAX_REQUEST_BYTES.
    responses=problem_responses(400, 404, 413, 422),
)
async def patch_report(
    report_id: str, _: AdminDep, patch: ReportPatchIn, service: ReportsServiceDep
) -> ReportOut:
    """Edits description, tags or severity; the state changes only through the actions."""
    changes = ReportChanges(
        fields_set=frozenset(patch.model_fields_set),
        description=patch.description,
        tags=tuple(patch.tags or ()),
        severity=patch.severity,
    )
    return _report_out(service, await service.update(report_id, changes))


def _action_route(action: Action) -> None:
    async def act(report_id: str, _: AdminDep, service: ReportsServiceDep) -> ReportOut:
        return _report_out(service, await service.act(report_id, action))

    act.__name__ = f"{action.value}_report"
    act.__doc__ = f"Moves the report to '{action.value}'; 409 when its state does not allow it."
    admin_router.add_api_route(
        f"/{{report_id}}/{action.value}",
        act,
        methods=["POST"],
        response_model=ReportOut,
        responses=problem_responses(404, 409),
    )


for _action in Action:
    _action_route(_action)


@admin_router.delete("/{report_id}", status_code=204, responses=problem_responses(404))
async def delete_report(report_id: str, _: AdminDep, service: ReportsServiceDep) -> Response:
    """Deletes the report from every index, and its images."""
    await service.delete(report_id)
    return Response(status_code=204)


router = APIRouter()
router.include_router(export_router)
router.include_router(read_router)
router.include_router(write_router)
router.include_router(admin_router)
