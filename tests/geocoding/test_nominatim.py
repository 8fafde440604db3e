"""Reverse and forward geocoding against a fake Nominatim over HTTP, with the Redis cache."""

from __future__ import annotations

import itertools

import pytest
from redis.asyncio import Redis

from roadhazard.geocoding import keys
from roadhazard.geocoding.schemas import Address, Place
from roadhazard.geocoding.service import GeocoderUnavailable
from tests.fakes.nominatim import FakeNominatim
from tests.geocoding.conftest import (
    DAMRAK,
    PARISER_PLATZ,
    VILLAGE_LANE,
    MakeService,
    geocoder_settings,
)


async def test_reverse_sends_the_documented_parameters_and_our_user_agent(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    service = make_service(
        geocoder_url=fake_url,
        geocoder_language="de",
        geocoder_email="ops@example.org",
        geocoder_user_agent="RoadhazardTest/1.0 (+https://example.org)",
    )

    address = await service.reverse(52.516312, 13.377709)

    assert address == Address(
        display_name=PARISER_PLATZ.display_name,
        road="Pariser Platz",
        house_number=None,
        suburb="Mitte",
        city="Berlin",
        county=None,
        state=None,
        postcode="10117",
        country="Deutschland",
        country_code="DE",
        source="nominatim",
    )
    (request,) = fake.to("/reverse")
    assert request.params == {
        "lat": "52.5163",  # rounded to the cache cell (about 11 m) before it leaves us
        "lon": "13.3777",
        "format": "jsonv2",
        "addressdetails": "1",
        "zoom": "18",
        "accept-language": "de",
        "email": "ops@example.org",
    }
    assert request.headers["user-agent"] == "RoadhazardTest/1.0 (+https://example.org)"
    assert service.provider == "nominatim"


async def test_address_parts_come_from_whichever_key_nominatim_uses(
    fake_url: str, make_service: MakeService
) -> None:
    service = make_service(geocoder_url=fake_url)

    amsterdam = await service.reverse(DAMRAK.lat, DAMRAK.lon)
    village = await service.reverse(VILLAGE_LANE.lat, VILLAGE_LANE.lon)

    assert amsterdam is not None
    assert (amsterdam.house_number, amsterdam.suburb) == ("1", "Burgwallen-Oude Zijde")
    assert (amsterdam.state, amsterdam.country_code) == ("Noord-Holland", "NL")
    assert village is not None
    assert (village.city, village.county, village.state) == ("Longparish", "Hampshire", "England")


async def test_no_address_is_none_and_is_cached_too(
    fake: FakeNominatim, fake_url: str, make_service: MakeService, redis: Redis
) -> None:
    service = make_service(geocoder_url=fake_url)

    assert await service.reverse(0.0, -30.0) is None
    assert await service.reverse(0.00001, -30.00001) is None  # the same 4-decimal cell

    assert len(fake.to("/reverse")) == 1
    key = keys.geocode_reverse(0.0, -30.0, None)
    assert await redis.get(key) == "null"
    assert 0 < await redis.ttl(key) <= 24 * 3600  # a miss is kept a day at most


async def test_a_cache_hit_makes_no_request_and_takes_no_rate_slot(
    fake: FakeNominatim, fake_url: str, make_service: MakeService, redis: Redis
) -> None:
    # One request per minute and no waiting: a second provider call could not get a slot.
    service = make_service(geocoder_url=fake_url, geocoder_min_interval_s=60, geocoder_max_wait_s=0)

    first = await service.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon)
    again = await service.reverse(PARISER_PLATZ.lat + 0.00002, PARISER_PLATZ.lon)

    assert again == first
    assert len(fake.to("/reverse")) == 1
    key = keys.geocode_reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon, None)
    assert await redis.ttl(key) > 29 * 24 * 3600  # the configured 30 days
    with pytest.raises(GeocoderUnavailable):
        await service.reverse(DAMRAK.lat, DAMRAK.lon)  # not cached: needs the busy slot


async def test_forward_sends_the_documented_parameters(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    service = make_service(geocoder_url=fake_url)

    places = await service.forward("  pariser \t PLATZ ", limit=3)

    (request,) = fake.to("/search")
    assert request.params == {
        "q": "pariser PLATZ",
        "format": "jsonv2",
        "addressdetails": "1",
        "limit": "3",
    }
    assert request.headers["user-agent"] == geocoder_settings().geocoder_user_agent
    assert len(places) == 1
    place = places[0]
    assert place.lat == pytest.approx(52.51631)
    assert place.lon == pytest.approx(13.37771)
    assert (place.category, place.place_type, place.importance) == ("highway", "pedestrian", 0.45)
    assert place.address is not None
    assert place.address.city == "Berlin"


async def test_forward_cache_ignores_case_and_spacing_but_not_the_limit(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    service = make_service(geocoder_url=fake_url)

    first = await service.forward("Damrak", limit=5)
    same = await service.forward("  DAMRAK ", limit=5)
    await service.forward("damrak", limit=2)
    nothing = await service.forward("Atlantis", limit=5)
    nothing_again = await service.forward("atlantis", limit=5)

    assert same == first
    assert [p.display_name for p in first] == [DAMRAK.display_name]
    assert nothing == nothing_again == []
    assert [r.params["limit"] for r in fake.to("/search")] == ["5", "2", "5"]


async def test_a_broken_redis_does_not_break_lookups(
    fake: FakeNominatim,
    fake_url: str,
    make_service: MakeService,
    broken_redis: Redis,
) -> None:
    service = make_service(
        redis_client=broken_redis, geocoder_url=fake_url, geocoder_min_interval_s=0.2
    )

    first = await service.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon)
    second = await service.reverse(DAMRAK.lat, DAMRAK.lon)
    places = await service.forward("damrak")

    assert first is not None
    assert second is not None
    assert [p.display_name for p in places] == [DAMRAK.display_name]
    # Without Redis this process still keeps its own spacing.
    arrivals = [r.at for r in fake.requests]
    assert all(b - a >= 0.15 for a, b in itertools.pairwise(arrivals))


def test_addresses_and_places_survive_their_json() -> None:
    address = Address(
        display_name="Near Mitte, State of Berlin, Germany",
        road=None,
        house_number=None,
        suburb=None,
        city="Mitte",
        county=None,
        state="State of Berlin",
        postcode=None,
        country="Germany",
        country_code="DE",
        source="offline",
        distance_km=0.21,
    )
    place = Place(
        lat=1.5, lon=2.5, display_name="x", address=address, category=None, importance=None
    )

    assert Address.from_json(address.to_json()) == address
    assert Place.from_dict(place.to_dict()) == place
    with pytest.raises(ValueError, match="source"):
        Address.from_json('{"display_name": "x", "source": "elsewhere"}')
