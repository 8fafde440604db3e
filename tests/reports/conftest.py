"""Real Redis for report tests: an embedded server per test, in a short temporary directory."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from redis.asyncio import Redis

from roadhazard.detection.engine import Box
from roadhazard.geocoding.schemas import Address, Place
from roadhazard.media.service import LocalImageStore
from roadhazard.reports import codec, keys
from roadhazard.reports.addresses import GEOCODE_QUEUE, AddressJobs, ReportAddresses
from roadhazard.reports.images import IMAGE_QUEUE, ImageJobs, ReportImages
from roadhazard.reports.models import GeoPoint, Report, Sighting
from roadhazard.reports.outbox import Outbox
from roadhazard.reports.service import ReportsService, new_report_id
from roadhazard.reports.store import ReportStore
from roadhazard.reports.worker import QueueWorker
from roadhazard.taxonomy import resolve
from roadhazard.taxonomy.schemas import HazardType

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    """A clock tests move by hand; every service call reads it once or twice."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def images(tmp_path: Path) -> LocalImageStore:
    return LocalImageStore(tmp_path / "images")


class GazetteerGeocoder:
    """A geocoder with a fixed gazetteer: the reports domain's unit tests need answers, not
    a network (the real GeocodingService against a real HTTP server is tested in
    tests/geocoding and tests/test_outages.py)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float] | str] = []

    async def reverse(self, lat: float, lon: float) -> Address | None:
        self.calls.append((lat, lon))
        return offline_address(f"Near {lat:.2f},{lon:.2f}") if lat else None

    async def forward(self, query: str, *, limit: int = 5) -> list[Place]:
        self.calls.append(query)
        if query == "nowhere":
            return []
        return [Place(52.37, 4.89, query, offline_address(query), None, None)][:limit]


def offline_address(display_name: str) -> Address:
    return Address(
        display_name, None, None, None, None, None, None, None, None, None, source="offline"
    )


@dataclass
class Background:
    """This test's background workers, run to completion on demand."""

    workers: tuple[QueueWorker, ...]

    async def run(self) -> None:
        for _ in range(20):
            ran = [await worker.run_once() for worker in self.workers]
            if not any(ran):
                return
        raise AssertionError("background work did not settle")


@pytest.fixture
def geocoder() -> GazetteerGeocoder:
    return GazetteerGeocoder()


@pytest.fixture
def report_images(redis: Redis, images: LocalImageStore) -> ReportImages:
    return ReportImages(Outbox(redis, IMAGE_QUEUE), images, ReportStore(redis), 50_000_000)


@pytest.fixture
def background(
    redis: Redis, report_images: ReportImages, geocoder: GazetteerGeocoder
) -> Background:
    return Background(
        (
            QueueWorker(report_images.outbox, ImageJobs(report_images)),
            QueueWorker(Outbox(redis, GEOCODE_QUEUE), AddressJobs(geocoder, ReportStore(redis))),
        )
    )


@pytest.fixture
def service(redis: Redis, report_images: ReportImages, clock: Clock) -> ReportsService:
    return ReportsService(
        store=ReportStore(redis),
        images=report_images,
        addresses=ReportAddresses(Outbox(redis, GEOCODE_QUEUE)),
        clock=clock,
    )


# About 11 m per 0.0001 degree of latitude.
HERE = GeoPoint(52.370000, 4.890000)


def north_of(point: GeoPoint, metres: float) -> GeoPoint:
    return GeoPoint(point.lat + metres / 111_195, point.lon)


def pothole() -> HazardType:
    return resolve("pothole")


FRESH_SESSION = "fresh-session"


def sighting(
    *,
    report_id: str | None = None,
    hazard: HazardType | None = None,
    location: GeoPoint | None = HERE,
    confidence: float = 0.8,
    image: bytes | None = None,
    session_id: str | None = FRESH_SESSION,
    seen_at: datetime = START,
    box: Box = Box(10, 10, 40, 30),
) -> Sighting:
    return Sighting(
        report_id=report_id or new_report_id(),
        hazard=hazard or pothole(),
        confidence=confidence,
        box=box,
        image=image,
        location=location,
        seen_at=seen_at,
        # A fresh session unless one is named: a session's own reports never duplicate each other.
        session_id=new_report_id() if session_id == FRESH_SESSION else session_id,
    )


async def assert_consistent(redis: Redis) -> list[Report]:
    """Rebuilds every index and counter from the report hashes and compares them with Redis.

    Test-only: it SCANs, which no request path does.
    """
    reports = []
    async for key in redis.scan_iter(match=f"{keys.REPORTS_PREFIX}report:*", count=500):
        reports.append(codec.decode(cast(dict[str, str], await redis.hgetall(key))))
    expected: dict[str, dict[str, float]] = {}
    geo_all: set[str] = set()
    geo_open: dict[str, set[str]] = {}
    stats: dict[str, int] = {}

    def bump(name: str, value: int = 1) -> None:
        stats[name] = stats.get(name, 0) + value

    for r in reports:
        index_keys = [
            keys.REPORTS_BY_TIME,
            keys.reports_by_state(r.state.value),
            keys.reports_by_status(r.status.value),
            keys.reports_by_class(r.token),
        ]
        if r.session_id:
            index_keys.append(keys.reports_by_session(r.session_id))
        for key in index_keys:
            expected.setdefault(key, {})[r.id] = float(r.created_ms)
        if r.location is not None:
            geo_all.add(r.id)
            if r.status.value == "open":
                geo_open.setdefault(keys.reports_geo(r.token), set()).add(r.id)
        bump("total")
        bump(f"state:{r.state.value}")
        bump(f"status:{r.status.value}")
        bump(f"class:{r.code}")
        bump(f"severity:{r.severity.value if r.severity else 'unknown'}")
        if r.confidence is not None:
            bump("conf_n")
            bump("conf_micros", round(r.confidence * 1_000_000))

    actual: dict[str, dict[str, float]] = {}
    async for key in redis.scan_iter(match=f"{keys.REPORTS_PREFIX}*", count=500):
        kind = await redis.type(key)
        # Queues of background work are not indexes of reports; tests check them on their own.
        if kind == "zset" and ":geo" not in key and ":queue:" not in key:
            actual[key] = dict(await redis.zrange(key, 0, -1, withscores=True))
    assert {k: v for k, v in actual.items() if v} == expected
    assert set(await redis.zrange(keys.REPORTS_GEO_ALL, 0, -1)) == geo_all
    for key, members in geo_open.items():
        assert set(await redis.zrange(key, 0, -1)) == members
    raw_stats = cast(dict[str, str], await redis.hgetall(keys.REPORT_STATS))
    assert {k: int(v) for k, v in raw_stats.items() if int(v)} == {
        k: v for k, v in stats.items() if v
    }
    assert await _actual_cells(redis) == await expected_cells(redis, reports)
    return reports


CELL_PRECISIONS = 7


async def expected_cells(redis: Redis, reports: list[Report]) -> dict[str, dict[str, int]]:
    """The cell hashes the scripts should keep for `reports` (those marked as counted), each
    report in the cell Redis's own GEOHASH names for it in geo_all."""
    counted = {
        report_id
        for report_id in [r.id for r in reports]
        if await redis.hget(keys.report(report_id), "cells_v") == "1"
    }
    located = [r for r in reports if r.location is not None and r.id in counted]
    hashes = cast(
        list[str],
        await redis.geohash(keys.REPORTS_GEO_ALL, *[r.id for r in located]) if located else [],
    )
    cells: dict[str, dict[str, int]] = {}

    def add(key: str, *fields: tuple[str, int]) -> None:
        cell = cells.setdefault(key, {})
        for name, value in fields:
            cell[name] = cell.get(name, 0) + value

    for report, geohash in zip(located, hashes, strict=True):
        assert report.location is not None
        severity = report.severity.value if report.severity else "unknown"
        combo = f"{report.code}|{report.state.value}|{severity}"
        lat_e6 = math.floor(report.location.lat * 1e6 + 0.5)
        lon_e6 = math.floor(report.location.lon * 1e6 + 0.5)
        for precision in range(1, CELL_PRECISIONS + 1):
            cell = geohash[:precision]
            add(
                keys.report_cell(precision, cell),
                ("n", 1),
                ("lat_e6", lat_e6),
                ("lon_e6", lon_e6),
                (f"class:{report.code}", 1),
                (f"state:{report.state.value}", 1),
                (f"severity:{severity}", 1),
            )
            add(
                keys.report_cell_combos(precision, cell),
                (f"n:{combo}", 1),
                (f"lat_e6:{combo}", lat_e6),
                (f"lon_e6:{combo}", lon_e6),
            )
    # A field that reaches 0 goes (a sum may, too).
    cells = {k: {n: v for n, v in cell.items() if v} for k, cell in cells.items()}
    return cells


async def _actual_cells(redis: Redis) -> dict[str, dict[str, int]]:
    found = {}
    async for key in redis.scan_iter(match=f"{keys.REPORTS_PREFIX}cell*:*", count=500):
        raw = cast(dict[str, str], await redis.hgetall(key))
        found[key] = {name: int(value) for name, value in raw.items()}
    return found


async def forget_cells(redis: Redis, report_ids: list[str]) -> None:
    """Makes the reports look written by a release before the map's cells."""
    for report_id in report_ids:
        await redis.hdel(keys.report(report_id), "cells_v")
    stale = [key async for key in redis.scan_iter(match=f"{keys.REPORTS_PREFIX}cell*:*")]
    await redis.delete(*stale, keys.REPORT_CELLS_VERSION)
