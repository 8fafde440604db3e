"""Health and readiness documents."""

from __future__ import annotations

from pydantic import BaseModel

from roadhazard.checks import CheckResult


class HealthResponse(BaseModel):
    status: str
    model_status: str
    version: str


class ReadyResponse(BaseModel):
    status: str
    checks: dict[str, CheckResult]
