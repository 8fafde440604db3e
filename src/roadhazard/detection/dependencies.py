"""The detection service, as the lifespan keeps it on app.state (see roadhazard.lifespan).

Dependencies are `async def` although they never await: FastAPI runs a plain `def` dependency
in its thread pool, a thread hop per request for what is an attribute read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from roadhazard.detection.service import DetectionService


async def get_detection_service(request: Request) -> DetectionService:
    service: DetectionService = request.app.state.detection
    return service


DetectionServiceDep = Annotated[DetectionService, Depends(get_detection_service)]
