"""GET /v1/geocode and GET /v1/reverse-geocode."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from roadhazard.access.dependencies import ReaderDep
from roadhazard.geocoding.dependencies import GeocodingServiceDep
from roadhazard.geocoding.schemas import (
    AddressOut,
    GeocodeResponse,
    PlaceOut,
    ReverseGeocodeResponse,
)
from roadhazard.ratelimit import rate_limit
from roadhazard.schemas import problem_responses

router = APIRouter(prefix="/v1", tags=["geocoding"])


@router.get(
    "/geocode",
    response_model=GeocodeResponse,
    responses=problem_responses(401, 403, 422, 429, 503),
    dependencies=[Depends(rate_limit("reads"))],
)
async def geocode(
    service: GeocodingServiceDep,
    _: ReaderDep,
    q: Annotated[
        str,
        # `\S`: whitespace alone is no query (a pattern is searched, not matched whole).
        Query(min_length=1, max_length=300, pattern=r"\S", description="What to look for."),
    ],
    limit: Annotated[int, Query(ge=1, le=10, description="At most this many places.")] = 5,
) -> GeocodeResponse:
    """Places matching a text, best first. Needs an online geocoder (503 without one)."""
    places = await service.forward(q, limit=limit)
    return GeocodeResponse(
        query=q,
        provider=service.provider,
        results=[PlaceOut.from_place(place) for place in places],
    )


@router.get(
    "/reverse-geocode",
    response_model=ReverseGeocodeResponse,
    responses=problem_responses(401, 403, 422, 429, 503),
    dependencies=[Depends(rate_limit("reads"))],
)
async def reverse_geocode(
    service: GeocodingServiceDep,
    _: ReaderDep,
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude, WGS 84.")],
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude, WGS 84.")],
) -> ReverseGeocodeResponse:
    """The address at a point; `address` is null where there is none or geocoding is off."""
    address = await service.reverse(lat, lon)
    return ReverseGeocodeResponse(
        lat=lat,
        lon=lon,
        provider=service.provider,
        address=AddressOut.from_address(address) if address is not None else None,
    )
