"""One HTTP exchange with a Nominatim-compatible API, and its answers read into our types.

Only the wire: rate limiting, retries, the breaker and the cache are the service's. Every
failure leaves as a resilience Transient- or PermanentError whose message names neither the
URL nor a parameter (the e-mail address goes in the query string).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from roadhazard.geocoding.schemas import Address, Place
from roadhazard.resilience import PermanentError, TransientError, send

DEPENDENCY = "nominatim"

# The address parts we keep, each with the Nominatim keys that may carry it, best first: the
# key depends on what the place is (a town has `town`, not `city`).
_ROAD = ("road", "pedestrian", "footway", "cycleway", "path", "track")
_SUBURB = ("suburb", "city_district", "district", "borough", "quarter", "neighbourhood")
_CITY = ("city", "town", "village", "municipality", "hamlet")
_COUNTY = ("county", "state_district")
_STATE = ("state", "region", "province")

_STATUS_MESSAGE_MAX = 120


def _first(parts: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = parts.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def address_from_nominatim(display_name: str, parts: Mapping[str, Any]) -> Address:
    code = _first(parts, ("country_code",))
    return Address(
        display_name=display_name,
        road=_first(parts, _ROAD),
        house_number=_first(parts, ("house_number",)),
        suburb=_first(parts, _SUBURB),
        city=_first(parts, _CITY),
        county=_first(parts, _COUNTY),
        state=_first(parts, _STATE),
        postcode=_first(parts, ("postcode",)),
        country=_first(parts, ("country",)),
        country_code=code.upper() if code else None,
        source="nominatim",
    )


def _float(value: Any) -> float | None:
    # jsonv2 writes coordinates as strings and importance as a number.
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def place_from_nominatim(item: Mapping[str, Any]) -> Place | None:
    """A search result, or None for one too malformed to use."""
    lat, lon = _float(item.get("lat")), _float(item.get("lon"))
    display_name = item.get("display_name")
    if lat is None or lon is None or not isinstance(display_name, str):
        return None
    parts = item.get("address")
    category, place_type = item.get("category"), item.get("type")
    return Place(
        lat=lat,
        lon=lon,
        display_name=display_name,
        address=address_from_nominatim(display_name, parts) if isinstance(parts, dict) else None,
        category=category if isinstance(category, str) else None,
        importance=_float(item.get("importance")),
        place_type=place_type if isinstance(place_type, str) else None,
    )


class NominatimClient:
    """GET /reverse, /search and /status, each one request (no retry here)."""

    def __init__(
        self,
        base_url: str,
        *,
        user_agent: str,
        timeout_s: float,
        email: str | None = None,
        language: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        # The usage policy asks for an identifying User-Agent on every request.
        self._client = httpx.AsyncClient(
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )
        self._common: dict[str, str] = {"format": "jsonv2"}
        if language:
            self._common["accept-language"] = language
        if email:
            self._common["email"] = email

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get_json(self, path: str, params: dict[str, str]) -> Any:
        response = await send(
            self._client, "GET", f"{self._base}/{path}", dependency=DEPENDENCY, params=params
        )
        try:
            return response.json()
        except ValueError:
            # A proxy's HTML page or a wrong base URL: asking again would get the same.
            raise PermanentError(f"{DEPENDENCY} answered {path} with something not JSON") from None

    async def reverse(self, lat: float, lon: float) -> Address | None:
        """The address at a point, or None where the provider has none."""
        params = {
            **self._common,
            "lat": str(lat),
            "lon": str(lon),
            "zoom": "18",
            "addressdetails": "1",
        }
        body = await self._get_json("reverse", params)
        if not isinstance(body, dict):
            raise PermanentError(f"{DEPENDENCY} answered reverse with an unexpected document")
        if "error" in body:  # {"error": "Unable to geocode"}: nothing mapped near the point
            return None
        display_name, parts = body.get("display_name"), body.get("address")
        if not isinstance(display_name, str):
            raise PermanentError(f"{DEPENDENCY} answered reverse without a display_name")
        return address_from_nominatim(display_name, parts if isinstance(parts, dict) else {})

    async def search(self, query: str, limit: int) -> list[Place]:
        params = {**self._common, "q": query, "limit": str(limit), "addressdetails": "1"}
        body = await self._get_json("search", params)
        if not isinstance(body, list):
            raise PermanentError(f"{DEPENDENCY} answered search with an unexpected document")
        places = (place_from_nominatim(item) for item in body if isinstance(item, dict))
        return [place for place in places if place is not None][:limit]

    async def status(self) -> str:
        """The provider's own health message; a TransientError when it reports trouble."""
        body = await self._get_json("status", {"format": "json"})
        if not isinstance(body, dict):
            raise PermanentError(f"{DEPENDENCY} answered status with an unexpected document")
        message = str(body.get("message", ""))[:_STATUS_MESSAGE_MAX]
        if body.get("status") != 0:
            raise TransientError(f"{DEPENDENCY} reports status {body.get('status')}: {message}")
        return message or "OK"
