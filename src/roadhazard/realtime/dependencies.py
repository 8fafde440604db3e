"""What a frame stream needs from the app's state: the sessions service, the access policy and
rate limiter (as `POST .../frames` uses them), its limits, and this process's stream registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from roadhazard.access.dependencies import AccessPolicyDep
from roadhazard.ratelimit import limiter_of
from roadhazard.realtime.connection import StreamLimits, StreamServices
from roadhazard.realtime.registry import StreamRegistry
from roadhazard.sessions.dependencies import SessionServiceDep
from roadhazard.settings import SettingsDep


async def get_stream_registry(connection: HTTPConnection) -> StreamRegistry:
    registry: StreamRegistry = connection.app.state.streams
    return registry


async def get_stream_services(
    connection: HTTPConnection, sessions: SessionServiceDep, access: AccessPolicyDep
) -> StreamServices:
    return StreamServices(sessions=sessions, access=access, limiter=limiter_of(connection))


async def get_stream_limits(settings: SettingsDep) -> StreamLimits:
    return StreamLimits(
        idle_timeout_s=settings.stream_idle_timeout_s,
        max_image_bytes=settings.max_image_bytes,
        retry_after_s=settings.retry_after_s,
        # A frame normally takes well under a second; this is the most detection may take.
        finish_limit_s=settings.inference_timeout_s,
    )


StreamRegistryDep = Annotated[StreamRegistry, Depends(get_stream_registry)]
StreamServicesDep = Annotated[StreamServices, Depends(get_stream_services)]
StreamLimitsDep = Annotated[StreamLimits, Depends(get_stream_limits)]
