"""The coverage service, as the lifespan keeps it on app.state (see roadhazard.lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from roadhazard.coverage.service import CoverageService


async def get_coverage_service(request: Request) -> CoverageService:
    service: CoverageService = request.app.state.coverage
    return service


CoverageServiceDep = Annotated[CoverageService, Depends(get_coverage_service)]
