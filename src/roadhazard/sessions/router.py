"""POST /v1/sessions, POST /v1/sessions/{id}/frames, GET /v1/sessions/{id}, POST .../end."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response, status

from roadhazard.access.dependencies import ReaderDep, ReporterDep
from roadhazard.errors import validate_body_fields
from roadhazard.inputs import image_request_body
from roadhazard.ratelimit import rate_limit
from roadhazard.schemas import problem_responses
from roadhazard.sessions.dependencies import SessionServiceDep
from roadhazard.sessions.schemas import (
    POSITION,
    FrameParams,
    FrameResponse,
    SessionCreate,
    SessionCreated,
    SessionStats,
)
from roadhazard.settings import SettingsDep
from roadhazard.uploads import read_image_upload

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=problem_responses(401, 403))


def _frame_request_body() -> dict[str, Any]:
    """Documents both ways of sending a frame, since the handler reads the body itself."""
    fields = FrameParams.model_json_schema()
    return image_request_body(fields, image_required=True, together=POSITION)


def _frame_params(fields: dict[str, Any]) -> FrameParams:
    return validate_body_fields(FrameParams, fields, "The frame's parameters are invalid.")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionCreated,
    # 400: a body that is not UTF-8 (FastAPI answers it before validation); 413: over
    # MAX_REQUEST_BYTES.
    responses=problem_responses(400, 413, 422, 429),
    dependencies=[Depends(rate_limit("frames"))],
)
async def start_session(
    body: SessionCreate, response: Response, service: SessionServiceDep, caller: ReporterDep
) -> SessionCreated:
    """Opens a driving session; its id is a ULID. Only the API key that opened it (and admins)
    may send it frames, read it or end it."""
    created = await service.start(body, caller)
    response.headers["Location"] = f"{router.prefix}/{created.id}"
    return created


@router.post(
    "/{session_id}/frames",
    response_model=FrameResponse,
    responses=problem_responses(400, 404, 409, 413, 415, 422, 429, 503),
    dependencies=[Depends(rate_limit("frames"))],
    openapi_extra=_frame_request_body(),
)
async def send_frame(
    session_id: str,
    request: Request,
    service: SessionServiceDep,
    settings: SettingsDep,
    caller: ReporterDep,
) -> FrameResponse:
    """Detects hazards in one frame and says which hazard report each detection belongs to."""
    upload = await read_image_upload(
        request,
        field_name="image",
        many=False,
        max_images=1,
        max_image_bytes=settings.max_image_bytes,
    )
    params = _frame_params(upload.fields)
    return await service.process_frame(session_id, upload.single(), params, caller)


@router.get(
    "/{session_id}",
    response_model=SessionStats,
    responses=problem_responses(404, 429),
    dependencies=[Depends(rate_limit("reads"))],
)
async def session_stats(
    session_id: str, service: SessionServiceDep, caller: ReaderDep
) -> SessionStats:
    """The session's state and counters: frames, detections, hazards by class, duration."""
    return await service.stats(session_id, caller)


@router.post(
    "/{session_id}/end",
    response_model=SessionStats,
    responses=problem_responses(404, 429),
    dependencies=[Depends(rate_limit("frames"))],
)
async def end_session(
    session_id: str, service: SessionServiceDep, caller: ReporterDep
) -> SessionStats:
    """Ends the session and returns its summary; ending it again returns the same summary."""
    return await service.end(session_id, caller)
