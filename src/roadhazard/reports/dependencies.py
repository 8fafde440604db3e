"""The reports service, as the lifespan keeps it on app.state (see roadhazard.lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from roadhazard.reports.service import ReportsService


async def get_reports_service(request: Request) -> ReportsService:
    service: ReportsService = request.app.state.reports
    return service


ReportsServiceDep = Annotated[ReportsService, Depends(get_reports_service)]
