"""/open311/v2/: Open311 GeoReport v2 over the reports service.

Every resource answers in the format its extension names (`services.json`, `services.xml`);
`discovery` describes the endpoint. Reads are guarded like /v1/reports (public unless
ROADHAZARD_PUBLIC_READS is off); posting a request needs a key with the reporter role, as the
`api_key` field or in the usual header. Errors are written in GeoReport v2's format by
`roadhazard.open311.errors`, installed for these paths by the composition.
"""

from __future__ import annotations

from functools import partial
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from roadhazard.access.dependencies import ReaderDep
from roadhazard.inputs import UtcDatetime
from roadhazard.open311.dependencies import (
    MULTIPART,
    URLENCODED,
    DeploymentDep,
    FormatDep,
    ReporterDep,
    ServiceRequestDep,
)
from roadhazard.open311.mapping import (
    API_PATH,
    created_of,
    discovery_of,
    manual_report,
    request_of,
    service_named,
    service_of,
)
from roadhazard.open311.rendering import respond, respond_list
from roadhazard.open311.schemas import (
    FORM_RULES,
    CreatedOut,
    DiscoveryOut,
    ErrorOut,
    RequestOut,
    ServiceDefinitionOut,
    ServiceOut,
    ServiceRequestIn,
)
from roadhazard.open311.service import LIMIT_MAX, RequestsQuery, comma_list, find_requests
from roadhazard.ratelimit import caller_identity, rate_limit
from roadhazard.reports.dependencies import ReportsServiceDep
from roadhazard.reports.models import IdempotencyKey, RenderedAnswer
from roadhazard.reports.states import ReportStatus
from roadhazard.taxonomy import load_taxonomy
from roadhazard.uploads.openapi import form_request_body

_XML_TEXT: dict[str, Any] = {"text/xml": {"schema": {"type": "string"}}}
# The 200's JSON schema comes from each route's response_model; XML is the same document.
XML_TOO: dict[int | str, dict[str, Any]] = {200: {"content": _XML_TEXT}}


def open311_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for errors in GeoReport v2's format, in either format: `statuses`, and
    4XX for the rest (which also keeps FastAPI from documenting a 422: it answers 400 here)."""
    content = {
        "application/json": {"schema": {"type": "array", "items": ErrorOut.model_json_schema()}},
        **_XML_TEXT,
    }
    described: dict[int | str, str] = {status: HTTPStatus(status).phrase for status in statuses}
    described["4XX"] = "Another client error"
    return {
        status: {"description": description, "content": content}
        for status, description in described.items()
    }


read_router = APIRouter(
    prefix=API_PATH,
    tags=["open311"],
    dependencies=[Depends(rate_limit("reads"))],
    responses=open311_errors(400, 403, 404, 429, 503),
)
write_router = APIRouter(
    prefix=API_PATH,
    tags=["open311"],
    dependencies=[Depends(rate_limit("reports"))],
    responses=open311_errors(400, 403, 404, 409, 413, 415, 429, 503),
)

# Bounded, so that a request line fits the edge's limit (ROADHAZARD_MAX_HEADER_BYTES and 16 KiB
# for the line) however its characters are percent-encoded.
IDS_MAX_LENGTH = 2800
CODES_PATTERN = r"^([^,]{1,64}(,[^,]{1,64}){0,19})?$"
STATUS_PATTERN = r"^((open|closed)(,(open|closed))?)?$"


@read_router.get("/discovery.{response_format}", response_model=DiscoveryOut, responses=XML_TOO)
async def discovery(fmt: FormatDep, _: ReaderDep, deployment: DeploymentDep) -> Response:
    """Service discovery: this endpoint, its specification and its formats."""
    return respond(fmt, "discovery", discovery_of(deployment))


@read_router.get("/services.{response_format}", response_model=list[ServiceOut], responses=XML_TOO)
async def services(fmt: FormatDep, _: ReaderDep) -> Response:
    """The hazard classes, as service request types."""
    body = [service_of(hazard).model_dump(mode="json") for hazard in load_taxonomy().hazards]
    return respond(fmt, "services", body)


@read_router.get(
    "/services/{service_code}.{response_format}",
    response_model=ServiceDefinitionOut,
    responses=XML_TOO,
)
async def service_definition(service_code: str, fmt: FormatDep, _: ReaderDep) -> Response:
    """A service's extra fields: none (every service's metadata is false), so an empty list
    for a known service_code, and 404 for an unknown one."""
    hazard = service_named(service_code)
    body = ServiceDefinitionOut(service_code=hazard.code, attributes=[])
    return respond(fmt, "service_definition", body.model_dump(mode="json"))


@read_router.get("/requests.{response_format}", response_model=list[RequestOut], responses=XML_TOO)
async def list_requests(
    fmt: FormatDep,
    _: ReaderDep,
    reports: ReportsServiceDep,
    deployment: DeploymentDep,
    service_request_id: Annotated[
        str | None,
        Query(
            max_length=IDS_MAX_LENGTH,
            description="Comma-separated ids (about 100 fit); when given, every other argument "
            "is ignored.",
        ),
    ] = None,
    service_code: Annotated[
        str | None, Query(pattern=CODES_PATTERN, description="Comma-separated service codes.")
    ] = None,
    start_date: Annotated[
        UtcDatetime | None, Query(description="Default: 90 days before end_date.")
    ] = None,
    end_date: Annotated[
        UtcDatetime | None,
        Query(description="Included; default: start_date + 90 days, or now."),
    ] = None,
    status: Annotated[
        str | None, Query(pattern=STATUS_PATTERN, description="open, closed, or both.")
    ] = None,
    jurisdiction_id: Annotated[
        str | None, Query(max_length=200, description="Ignored: this endpoint serves one.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=LIMIT_MAX, description="An extension: at most this many.")
    ] = LIMIT_MAX,
) -> Response:
    """Service requests, newest first: by default those of the last 90 days, at most 1000;
    start_date and end_date may span at most 90 days."""
    query = RequestsQuery(
        # Sent empty, an argument is as if not sent (the specification's rule).
        ids=comma_list(service_request_id) or None,
        codes=comma_list(service_code),
        statuses=frozenset(ReportStatus(value) for value in comma_list(status)),
        start=start_date,
        end=end_date,
        limit=limit,
    )
    found = await find_requests(reports, query, now=reports.clock())
    return await respond_list(
        fmt, "service_requests", found, partial(request_of, deployment=deployment)
    )


@read_router.get(
    "/requests/{service_request_id}.{response_format}",
    response_model=list[RequestOut],
    responses=XML_TOO,
)
async def get_request(
    service_request_id: str,
    fmt: FormatDep,
    _: ReaderDep,
    reports: ReportsServiceDep,
    deployment: DeploymentDep,
) -> Response:
    """One service request (in a list of one, as the specification writes it)."""
    report = await reports.get(service_request_id)
    return respond(fmt, "service_requests", [request_of(report, deployment)])


@write_router.post(
    "/requests.{response_format}",
    response_model=list[CreatedOut],
    responses=XML_TOO,
    openapi_extra=form_request_body(
        ServiceRequestIn, media_types=(URLENCODED, MULTIPART), rules=FORM_RULES
    ),
)
async def post_request(
    request: Request,
    fmt: FormatDep,
    principal: ReporterDep,
    data: ServiceRequestDep,
    reports: ReportsServiceDep,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
) -> Response:
    """Files a manual report, de-duplicated like any other; its id comes back at once.

    With `Idempotency-Key`, a retry of the same request gets the same answer; the same key
    with another request is refused (400), and one still in progress answers 409.
    """
    draft = manual_report(data, service_named(data.service_code))
    filed = await reports.create_manual(
        draft,
        idempotency_key=(
            None
            if idempotency_key is None
            # The caller's API key, wherever it was sent, else its address.
            else IdempotencyKey(caller_identity(request, principal), idempotency_key)
        ),
    )
    if isinstance(filed, RenderedAnswer):
        # Recorded by the previous release's /v1/reports: its id is all that is known.
        body = created_of(filed.report_id, None)
    else:
        body = created_of(filed.report.id, filed.report.duplicate_of)
    return respond(fmt, "service_requests", [body])


router = APIRouter()
router.include_router(read_router)
router.include_router(write_router)
