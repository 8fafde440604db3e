"""POST /v1/sessions, POST /v1/sessions/{id}/frames, GET /v1/sessions/{id}, GET .../track,
POST .../end."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from roadhazard.access.dependencies import ReaderDep, ReporterDep
from roadhazard.coverage.schemas import TrackOut
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
from roadhazard.uploads import ImageUpload, Upload

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=problem_responses(401, 403))


FRAME_UPLOAD = ImageUpload(
    "image", FrameParams, invalid_detail="The frame's parameters are invalid.", together=POSITION
)


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
    openapi_extra=FRAME_UPLOAD.openapi_extra,
)
async def send_frame(
    session_id: str,
    service: SessionServiceDep,
    caller: ReporterDep,
    upload: Annotated[Upload[FrameParams], Depends(FRAME_UPLOAD)],
) -> FrameResponse:
    """Detects hazards in one frame and says which hazard report each detection belongs to."""
    params = upload.params
    return await service.process_frame(session_id, upload.image, params, caller)


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


@router.get(
    "/{session_id}/track",
    response_model=TrackOut,
    responses=problem_responses(404, 429),
    dependencies=[Depends(rate_limit("reads"))],
)
async def session_track(session_id: str, service: SessionServiceDep, caller: ReaderDep) -> TrackOut:
    """The session's GPS path as a GeoJSON LineString (lon, lat), thinned for display, while
    the session is kept (its idle TTL)."""
    return TrackOut.from_track(await service.track(session_id, caller))


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
