"""Readiness types: what a dependency's check answers.

Ground level, below every client, store and service that reports on itself, so none of them
imports the health package that collects the answers.
"""

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
