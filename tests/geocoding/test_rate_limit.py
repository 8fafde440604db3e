"""One request per interval to the provider, shared by every worker through Redis."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from roadhazard.geocoding.service import GeocoderUnavailable
from tests.fakes.nominatim import FakeNominatim
from tests.fakes.server import Fault
from tests.geocoding.conftest import DAMRAK, PARISER_PLATZ, VILLAGE_LANE, MakeService

INTERVAL_S = 0.2
# Arrival times carry the network's jitter on top of the sending times the limiter spaces.
JITTER_S = 0.05


async def test_two_workers_together_send_one_request_per_interval(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    # Two services on one Redis are two worker processes as far as the limiter can tell.
    one, two = (
        make_service(
            geocoder_url=fake_url, geocoder_min_interval_s=INTERVAL_S, geocoder_max_wait_s=2
        )
        for _ in range(2)
    )

    results = await asyncio.gather(
        one.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon),
        two.reverse(DAMRAK.lat, DAMRAK.lon),
        one.reverse(VILLAGE_LANE.lat, VILLAGE_LANE.lon),
        two.forward("damrak"),
    )

    assert all(results)
    arrivals = sorted(r.at for r in fake.requests)
    assert len(arrivals) == 4
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= INTERVAL_S - JITTER_S, gaps


async def test_a_slot_further_away_than_the_wait_allows_is_refused_at_once(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    one, two = (
        make_service(geocoder_url=fake_url, geocoder_min_interval_s=30, geocoder_max_wait_s=2)
        for _ in range(2)
    )
    await one.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon)

    started = time.monotonic()
    with pytest.raises(GeocoderUnavailable) as refused:
        await two.reverse(DAMRAK.lat, DAMRAK.lon)

    # Nothing slept, not even the longest wait allowed: the slot is too far away.
    assert time.monotonic() - started < 2.0
    assert 28 <= refused.value.retry_after <= 30
    assert refused.value.headers["Retry-After"] == str(refused.value.retry_after)
    assert len(fake.requests) == 1


async def test_a_short_wait_is_waited_out(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    service = make_service(
        geocoder_url=fake_url, geocoder_min_interval_s=INTERVAL_S, geocoder_max_wait_s=1
    )

    await service.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon)
    await service.reverse(DAMRAK.lat, DAMRAK.lon)

    first, second = (r.at for r in fake.requests)
    assert second - first >= INTERVAL_S - JITTER_S


async def test_a_providers_retry_after_holds_back_every_worker(
    fake: FakeNominatim, fake_url: str, make_service: MakeService
) -> None:
    one, two = (
        make_service(geocoder_url=fake_url, geocoder_min_interval_s=0.05, geocoder_max_wait_s=0.3)
        for _ in range(2)
    )
    fake.faults.set(Fault.RATE_LIMITED, times=1, retry_after_s=2)

    with pytest.raises(GeocoderUnavailable) as limited:
        await one.reverse(PARISER_PLATZ.lat, PARISER_PLATZ.lon)
    with pytest.raises(GeocoderUnavailable) as held_back:
        await two.reverse(DAMRAK.lat, DAMRAK.lon)

    assert limited.value.retry_after == 2  # the provider's Retry-After, passed on
    assert 1 <= held_back.value.retry_after <= 2
    assert len(fake.requests) == 1  # the second worker did not even ask
