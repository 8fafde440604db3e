"""A failing provider: a quick 503 for the caller, the breaker, readiness, and recovery."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from roadhazard.checks import CheckStatus
from roadhazard.geocoding import service as geocoding_service
from roadhazard.geocoding.service import GeocoderUnavailable
from tests.fakes.nominatim import FakeNominatim
from tests.fakes.server import Fault, unused_port
from tests.geocoding.conftest import DAMRAK, PARISER_PLATZ, MakeService, ManualClock


@pytest.fixture(autouse=True)
def _loggers_captured(uncached_loggers: Callable[..., None]) -> None:
    uncached_loggers(geocoding_service)


SECRET_EMAIL = "fleet-ops@example.org"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.ERROR_500, "answered 500"),
        (Fault.RATE_LIMITED, "answered 429"),
        (Fault.SLOW, "timed out"),
        (Fault.HANG, "timed out"),
    ],
)
async def test_a_failing_provider_is_a_quick_503_and_then_recovers(
    fake: FakeNominatim,
    fake_url: str,
    make_service: MakeService,
    fault: Fault,
    expected: str,
) -> None:
    service = make_service(geocoder_url=fake_url, geocoder_email=SECRET_EMAIL)
    fake.faults.set(fault, delay_s=5.0, retry_after_s=1)

    started = time.monotonic()
    with capture_logs() as logs, pytest.raises(GeocoderUnavailable) as failed:
        await service.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon)

    # Its own 0.3 s timeout and one retry; well before a slow provider (5 s) would answer.
    assert time.monotonic() - started < 3.0
    assert failed.value.status == 503
    assert expected in failed.value.detail
    assert failed.value.retry_after >= 1
    assert [entry["event"] for entry in logs] == ["geocoder_failed"]
    assert SECRET_EMAIL not in repr(logs) + failed.value.detail
    fake.faults.clear()
    assert await service.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon) is not None


async def test_a_refused_connection_is_a_quick_503(make_service: MakeService) -> None:
    service = make_service(geocoder_url=f"http://127.0.0.1:{unused_port()}")

    started = time.monotonic()
    with pytest.raises(GeocoderUnavailable, match="unreachable"):
        await service.forward("damrak")

    assert time.monotonic() - started < 1.0


async def test_one_failed_attempt_is_retried(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    service = make_service(geocoder_url=fake_url, dependency_retries=2)
    fake.faults.set(Fault.ERROR_500, times=1)

    address = await service.reverse(DAMRAK.lat, DAMRAK.lon)

    assert address is not None
    assert len(fake.to("/reverse")) == 2


async def test_the_breaker_opens_fails_fast_and_closes_after_a_good_trial(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    clock = ManualClock()
    service = make_service(
        geocoder_url=fake_url, circuit_failure_threshold=2, circuit_reset_s=30, clock=clock
    )
    fake.faults.set(Fault.ERROR_500)
    for _ in range(2):
        with pytest.raises(GeocoderUnavailable):
            await service.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon)
    asked = len(fake.requests)

    with pytest.raises(GeocoderUnavailable, match="circuit open") as fast:
        await service.forward("damrak")
    readiness = await service.readiness_check()

    assert len(fake.requests) == asked  # the open breaker did not let it through
    assert fast.value.retry_after == 30
    assert readiness.status is CheckStatus.UNHEALTHY
    assert "circuit open" in readiness.detail
    fake.faults.clear()
    clock.advance(31)
    assert await service.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon) is not None
    assert (await service.readiness_check()).status is CheckStatus.HEALTHY


async def test_a_blocked_user_agent_is_a_503_that_says_so(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    service = make_service(geocoder_url=fake_url, geocoder_user_agent="python-httpx/0.28.1")

    with pytest.raises(GeocoderUnavailable, match="refused the request") as refused:
        await service.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon)

    assert "403" in refused.value.detail
    assert refused.value.retry_after == 300  # an operator must act; no quick retries
    readiness = await service.readiness_check()
    assert readiness.status is CheckStatus.DEGRADED
    assert "403" in readiness.detail
