"""A session's track: capped and ordered by capture time in Redis, thinned for display."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from roadhazard.coverage import keys
from roadhazard.coverage.service import MAX_TRACK_POINTS, CoverageService
from roadhazard.coverage.store import CoverageStore, Limits, Scan
from roadhazard.coverage.thinning import thin
from tests.coverage.conftest import NOW, Clock

pytestmark = pytest.mark.usefixtures("no_coverage_keys")

S1 = "01HV000000000000000000000A"


def scan(seconds: int, lat: float, lon: float) -> Scan:
    return Scan(S1, lat, lon, 45.0, NOW + timedelta(seconds=seconds))


async def test_points_come_back_in_capture_order_with_their_heading(
    coverage: CoverageService, store: CoverageStore
) -> None:
    # A corner: east, then north; sent out of order.
    for seconds, lat, lon in ((20, 52.51, 13.41), (0, 52.5, 13.40), (10, 52.5, 13.41)):
        await coverage.record(scan(seconds, lat, lon), now=NOW)

    points = await store.track(S1)
    assert [(p.lat, p.lon, p.heading) for p in points] == [
        (52.5, 13.40, 45.0),
        (52.5, 13.41, 45.0),
        (52.51, 13.41, 45.0),
    ]
    track = await coverage.track(S1)
    assert (track.points, track.line) == (3, [(52.5, 13.40), (52.5, 13.41), (52.51, 13.41)])
    assert (track.started_at, track.ended_at) == (NOW, NOW + timedelta(seconds=20))


async def test_the_track_keeps_its_newest_points_for_the_session_ttl(
    redis: Redis, clock: Clock
) -> None:
    limits = Limits(pass_gap_s=120, retention_days=30, session_ttl_s=600, track_max_points=5)
    coverage = CoverageService(CoverageStore(redis, limits), clock=clock)
    for seconds in range(8):
        await coverage.record(scan(seconds, 52.5, 13.4 + seconds / 1000), now=NOW)

    track = await coverage.track(S1)
    assert track.points == 5
    assert track.started_at == NOW + timedelta(seconds=3)
    assert 0 < await redis.pttl(keys.session_track(S1)) <= 600_000
    assert 0 < await redis.pttl(keys.session_passes(S1)) <= 600_000


async def test_an_unknown_session_has_an_empty_track(coverage: CoverageService) -> None:
    track = await coverage.track(S1)
    assert (track.points, track.line, track.started_at) == (0, [], None)


def test_a_straight_road_thins_to_its_ends() -> None:
    road = [(52.5, 13.4 + i * 1e-5) for i in range(1000)]
    assert thin(road, MAX_TRACK_POINTS) == [road[0], road[-1]]


def test_a_winding_road_keeps_its_corners_within_the_bound() -> None:
    # A zigzag of 60 m legs: every corner is far from the line between its neighbours.
    zigzag = [(52.5 + (i % 2) * 0.0005, 13.4 + i * 0.001) for i in range(12)]
    assert thin(zigzag, MAX_TRACK_POINTS) == zigzag
    # 5,000 points on a circle of 1 km: too many to show, thinned to at most the bound.
    circle = [
        (52.5 + 0.009 * math.sin(a / 800), 13.4 + 0.015 * math.cos(a / 800)) for a in range(5000)
    ]
    shown = thin(circle, MAX_TRACK_POINTS)
    assert 2 < len(shown) <= MAX_TRACK_POINTS
    assert (shown[0], shown[-1]) == (circle[0], circle[-1])
    assert thin(circle, 10) == [circle[i] for i in _indexes(circle, shown_at_most=10)]


def _indexes(points: list[tuple[float, float]], shown_at_most: int) -> list[int]:
    shown = thin(points, shown_at_most)
    assert len(shown) <= shown_at_most
    return [points.index(p) for p in shown]
