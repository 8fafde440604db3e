"""The readiness registry and the version, as the lifespan keeps them on app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from roadhazard.health.service import ReadinessRegistry


async def get_readiness(request: Request) -> ReadinessRegistry:
    readiness: ReadinessRegistry = request.app.state.readiness
    return readiness


async def get_version(request: Request) -> str:
    version: str = request.app.state.version
    return version


ReadinessDep = Annotated[ReadinessRegistry, Depends(get_readiness)]
VersionDep = Annotated[str, Depends(get_version)]
