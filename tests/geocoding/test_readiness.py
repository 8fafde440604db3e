"""Readiness of the online geocoder: a /status probe now and then, and recent failures."""

from __future__ import annotations

from roadhazard.checks import CheckStatus
from tests.fakes.nominatim import FakeNominatim
from tests.fakes.server import Fault
from tests.geocoding.conftest import PARISER_PLATZ, MakeService, ManualClock, geocoder_settings


async def test_a_healthy_provider_is_probed_at_most_once_a_minute(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    clock = ManualClock()
    service = make_service(geocoder_url=fake_url, clock=clock)

    first = await service.readiness_check()
    clock.advance(59)
    await service.readiness_check()
    clock.advance(2)
    await service.readiness_check()

    assert (first.status, first.detail) == (CheckStatus.HEALTHY, "nominatim answering")
    probes = fake.to("/status")
    assert len(probes) == 2
    assert probes[0].params == {"format": "json"}
    assert probes[0].headers["user-agent"] == geocoder_settings().geocoder_user_agent


async def test_a_provider_reporting_trouble_is_degraded_until_it_answers_again(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    clock = ManualClock()
    service = make_service(geocoder_url=fake_url, clock=clock)
    fake.status_doc = {"status": 700, "message": "Database connection failed"}

    troubled = await service.readiness_check()
    fake.status_doc = {"status": 0, "message": "OK"}
    still_remembered = await service.readiness_check()  # no new probe within the minute
    await service.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon)
    recovered = await service.readiness_check()

    assert troubled.status is CheckStatus.DEGRADED
    assert "700" in troubled.detail
    assert "Database connection failed" in troubled.detail
    assert still_remembered.status is CheckStatus.DEGRADED
    assert recovered.status is CheckStatus.HEALTHY


async def test_a_failing_provider_is_degraded_then_unhealthy_when_the_breaker_opens(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    clock = ManualClock()
    service = make_service(geocoder_url=fake_url, clock=clock, circuit_failure_threshold=2)
    fake.faults.set(Fault.ERROR_500)

    degraded = await service.readiness_check()  # the probe itself fails once
    clock.advance(61)
    unhealthy = await service.readiness_check()  # a second failed probe opens the breaker

    assert degraded.status is CheckStatus.DEGRADED
    assert "answered 500" in degraded.detail
    assert unhealthy.status is CheckStatus.UNHEALTHY
    assert len(fake.to("/status")) == 2
