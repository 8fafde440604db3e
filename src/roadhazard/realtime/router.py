"""WS /v1/sessions/{id}/stream: a driving session's frames over one WebSocket connection.

The protocol is in `realtime.protocol` and the README; each frame goes through the sessions
service exactly as `POST /v1/sessions/{id}/frames` does.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, WebSocket

from roadhazard.errors import shown
from roadhazard.realtime.connection import FrameStream
from roadhazard.realtime.dependencies import (
    StreamLimitsDep,
    StreamRegistryDep,
    StreamServicesDep,
)
from roadhazard.request_context import request_id_of

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


@router.websocket("/{session_id}/stream")
async def stream_frames(
    websocket: WebSocket,
    session_id: str,
    services: StreamServicesDep,
    limits: StreamLimitsDep,
    streams: StreamRegistryDep,
) -> None:
    """Accepts at once: every refusal is then an error message and a close code with a reason,
    which a browser's WebSocket can read (a refused handshake is only a 403 to it)."""
    connection_id = request_id_of(websocket.scope)
    await websocket.accept()
    with structlog.contextvars.bound_contextvars(
        request_id=connection_id, session_id=shown(session_id)
    ):
        stream = FrameStream(websocket, session_id, connection_id, services, limits)
        log.info("stream_opened")
        with streams.registered(stream):
            await stream.serve()
