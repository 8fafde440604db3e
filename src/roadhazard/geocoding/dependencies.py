"""The geocoding service, as the lifespan keeps it on app.state (see roadhazard.lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from roadhazard.geocoding.service import GeocodingService


async def get_geocoding_service(request: Request) -> GeocodingService:
    service: GeocodingService = request.app.state.geocoding
    return service


GeocodingServiceDep = Annotated[GeocodingService, Depends(get_geocoding_service)]
