"""GET /health (liveness) and GET /ready (readiness)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from roadhazard.detection.dependencies import DetectionServiceDep
from roadhazard.health.dependencies import ReadinessDep, VersionDep
from roadhazard.health.schemas import HealthResponse, ReadyResponse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse)
async def health(detection: DetectionServiceDep, version: VersionDep) -> HealthResponse:
    """200 whenever the process runs; says how far the model has come."""
    return HealthResponse(status="healthy", model_status=detection.status.value, version=version)


@router.get(
    "/ready",
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "Not ready."}},
)
async def ready(readiness: ReadinessDep) -> JSONResponse:
    """200 when every required dependency is healthy, 503 otherwise."""
    result = await readiness.evaluate()
    body = ReadyResponse(status="ready" if result.ready else "not_ready", checks=result.checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if result.ready else 503)
