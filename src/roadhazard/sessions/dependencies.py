"""The session service, as the lifespan keeps it on app.state (see roadhazard.lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from roadhazard.sessions.service import SessionService


async def get_session_service(request: HTTPConnection) -> SessionService:
    # An HTTPConnection: HTTP routes and the WebSocket frame stream (realtime) alike.
    service: SessionService = request.app.state.sessions
    return service


SessionServiceDep = Annotated[SessionService, Depends(get_session_service)]
