"""A fake Nominatim: /reverse, /search and /status over a small gazetteer the test defines.

It speaks the public API's parameter names and jsonv2 shapes, refuses a request without a
proper User-Agent (403, as the public service does for blocked agents), records every request
with its arrival time, and suffers the faults of a FaultInjector.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FaultInjector

LICENCE = "Data (c) OpenStreetMap contributors, ODbL 1.0. https://osm.org/copyright"
# httpx's own default agent: a client that sends it forgot to identify itself.
GENERIC_AGENTS = ("python-httpx/", "python-requests/")


@dataclass(frozen=True)
class FakePlace:
    place_id: int
    lat: float
    lon: float
    name: str
    display_name: str
    address: dict[str, str]
    category: str = "highway"
    type: str = "residential"
    importance: float = 0.1
    place_rank: int = 26

    def jsonv2(self, *, addressdetails: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "place_id": self.place_id,
            "licence": LICENCE,
            "osm_type": "way",
            "osm_id": self.place_id * 10,
            "lat": f"{self.lat:.7f}",
            "lon": f"{self.lon:.7f}",
            "category": self.category,
            "type": self.type,
            "place_rank": self.place_rank,
            "importance": self.importance,
            "addresstype": self.type,
            "name": self.name,
            "display_name": self.display_name,
            "boundingbox": [
                f"{self.lat - 0.001:.7f}",
                f"{self.lat + 0.001:.7f}",
                f"{self.lon - 0.001:.7f}",
                f"{self.lon + 0.001:.7f}",
            ],
        }
        if addressdetails:
            doc["address"] = dict(self.address)
        return doc


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival, in the test's process


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": 400, "message": message}}, status_code=400)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat2 - lat1) * 111.2
    dx = (lon2 - lon1) * 111.2 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


@dataclass
class FakeNominatim:
    places: list[FakePlace]
    reverse_radius_km: float = 1.0
    status_doc: dict[str, Any] = field(
        default_factory=lambda: {"status": 0, "message": "OK", "software_version": "fake"}
    )
    faults: FaultInjector = field(default_factory=FaultInjector)
    requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/reverse", self._reverse),
                Route("/search", self._search),
                Route("/status", self._status),
            ]
        )

    def to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    async def _admit(self, request: Request, *formats: str) -> Response | None:
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    path=request.url.path,
                    params=dict(request.query_params),
                    headers=dict(request.headers),
                    at=time.monotonic(),
                )
            )
        agent = request.headers.get("user-agent", "")
        if not agent or agent.startswith(GENERIC_AGENTS):
            return JSONResponse({"error": "Access blocked"}, status_code=403)
        fault = await self.faults.apply()
        if fault is not None:
            return fault
        if request.query_params.get("format", "xml") not in formats:
            return _bad_request("this fake only speaks " + ", ".join(formats))
        return None

    async def _reverse(self, request: Request) -> Response:
        refusal = await self._admit(request, "jsonv2", "json")
        if refusal is not None:
            return refusal
        try:
            lat = float(request.query_params["lat"])
            lon = float(request.query_params["lon"])
        except (KeyError, ValueError):
            return _bad_request("Need coordinates or OSM object to lookup.")
        near = [(p, _km(lat, lon, p.lat, p.lon)) for p in self.places]
        near = [(p, km) for p, km in near if km <= self.reverse_radius_km]
        if not near:
            return JSONResponse({"error": "Unable to geocode"})
        place = min(near, key=lambda pair: pair[1])[0]
        details = request.query_params.get("addressdetails", "1") == "1"
        return JSONResponse(place.jsonv2(addressdetails=details))

    async def _search(self, request: Request) -> Response:
        refusal = await self._admit(request, "jsonv2", "json")
        if refusal is not None:
            return refusal
        query = request.query_params.get("q", "").casefold().strip()
        if not query:
            return _bad_request("Nominatim needs a query.")
        limit = min(40, int(request.query_params.get("limit", "10")))
        details = request.query_params.get("addressdetails", "0") == "1"
        found = [p for p in self.places if query in p.display_name.casefold()]
        found.sort(key=lambda p: -p.importance)
        return JSONResponse([p.jsonv2(addressdetails=details) for p in found[:limit]])

    async def _status(self, request: Request) -> Response:
        refusal = await self._admit(request, "json")
        if refusal is not None:
            return refusal
        return JSONResponse(self.status_doc)
