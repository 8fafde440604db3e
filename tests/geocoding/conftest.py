"""Real Redis (embedded, one per test), a fake Nominatim over real HTTP, and services on both."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis

from roadhazard.geocoding.service import GeocodingService
from roadhazard.redis import create_client
from roadhazard.settings import Settings
from tests.fakes.nominatim import FakeNominatim, FakePlace
from tests.fakes.server import serving

PARISER_PLATZ = FakePlace(
    place_id=101,
    lat=52.51631,
    lon=13.37771,
    name="Pariser Platz",
    display_name="Pariser Platz, Mitte, Berlin, 10117, Deutschland",
    address={
        "road": "Pariser Platz",
        "suburb": "Mitte",
        "city": "Berlin",
        "ISO3166-2-lvl4": "DE-BE",
        "postcode": "10117",
        "country": "Deutschland",
        "country_code": "de",
    },
    category="highway",
    type="pedestrian",
    importance=0.45,
)
DAMRAK = FakePlace(
    place_id=202,
    lat=52.37552,
    lon=4.89629,
    name="Damrak",
    display_name="1, Damrak, Burgwallen-Oude Zijde, Amsterdam, Noord-Holland, 1012 LG, Nederland",
    address={
        "house_number": "1",
        "road": "Damrak",
        "quarter": "Burgwallen-Oude Zijde",
        "city": "Amsterdam",
        "state": "Noord-Holland",
        "postcode": "1012 LG",
        "country": "Nederland",
        "country_code": "nl",
    },
    category="building",
    type="yes",
    importance=0.2,
)
VILLAGE_LANE = FakePlace(
    place_id=303,
    lat=51.20001,
    lon=-1.48002,
    name="Mill Lane",
    display_name="Mill Lane, Longparish, Test Valley, Hampshire, England, SP11 6PX, United Kingdom",
    address={
        "road": "Mill Lane",
        "village": "Longparish",
        "county": "Hampshire",
        "state_district": "Test Valley",
        "state": "England",
        "postcode": "SP11 6PX",
        "country": "United Kingdom",
        "country_code": "gb",
    },
)
GAZETTEER = [PARISER_PLATZ, DAMRAK, VILLAGE_LANE]


def geocoder_settings(**overrides: Any) -> Settings:
    """Short timeouts and waits so that every failure shows within a fraction of a second."""
    values: dict[str, Any] = {
        "log_format": "console",
        "geocoder_timeout_s": 0.3,
        "geocoder_min_interval_s": 0.0,
        "geocoder_max_wait_s": 1.0,
        "dependency_retries": 1,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class ManualClock:
    """A monotonic clock the test moves; the breaker and the probe interval read it."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def broken_redis() -> AsyncIterator[Redis]:
    """A client of a Redis that is not there: every command fails at once."""
    with tempfile.TemporaryDirectory(prefix="rh-") as data_dir:
        url = f"unix://{data_dir}/absent.sock"
        client = create_client(url, socket_timeout_s=0.2, connect_timeout_s=0.2, retries=0)
        try:
            yield client
        finally:
            await client.aclose()


@pytest.fixture
def fake() -> FakeNominatim:
    return FakeNominatim(places=list(GAZETTEER))


@pytest.fixture
def fake_url(fake: FakeNominatim) -> Iterator[str]:
    with serving(fake.app) as url:
        try:
            yield url
        finally:
            fake.faults.clear()  # a hanging handler returns, so the server stops at once


MakeService = Callable[..., GeocodingService]


@pytest.fixture
async def make_service(redis: Redis) -> AsyncIterator[MakeService]:
    """Builds services the way the app does (from settings), and closes them after the test.
    `redis_client=` gives one another client; `clock=` and `offline_loader=` pass through."""
    made: list[GeocodingService] = []

    def make(
        *, redis_client: Redis | None = None, clock: Any = None, loader: Any = None, **settings: Any
    ) -> GeocodingService:
        extra: dict[str, Any] = {}
        if clock is not None:
            extra["clock"] = clock
        if loader is not None:
            extra["offline_loader"] = loader
        service = GeocodingService.from_settings(
            geocoder_settings(**settings), redis_client or redis, **extra
        )
        made.append(service)
        return service

    yield make
    for service in made:
        await service.aclose()
