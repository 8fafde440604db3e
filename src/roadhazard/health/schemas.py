"""Health and readiness documents."""

from __future__ import annotations

import enum

from pydantic import BaseModel


class CheckStatus(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class CheckResult(BaseModel):
    status: CheckStatus
    detail: str


class HealthResponse(BaseModel):
    status: str
    model_status: str
    version: str


class ReadyResponse(BaseModel):
    status: str
    checks: dict[str, CheckResult]
