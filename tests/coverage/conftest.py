"""Real Redis for coverage: the embedded server, and CI's (ROADHAZARD_TEST_REDIS_URL) too when
it is set; a clock the tests move by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from roadhazard.coverage.service import CoverageService
from roadhazard.coverage.store import CoverageStore, Limits
from tests.harness import EXTERNAL_REDIS_URL

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COVERAGE_KEYS = "rh:{coverage}:*"


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["embedded", "external"])
async def redis_url(request: pytest.FixtureRequest, redis_url: str) -> str:
    """The embedded server (tests/conftest.py's `redis_url`), then CI's Redis when it is set."""
    if request.param == "embedded":
        return redis_url
    if EXTERNAL_REDIS_URL is None:
        pytest.skip("ROADHAZARD_TEST_REDIS_URL is not set")
    return EXTERNAL_REDIS_URL


@pytest.fixture
async def no_coverage_keys(redis: Redis) -> AsyncIterator[None]:
    """A shared server starts and ends each test without coverage keys."""

    async def drop() -> None:
        found = [key async for key in redis.scan_iter(match=COVERAGE_KEYS)]
        if found:
            await redis.delete(*found)

    await drop()
    yield
    await drop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


LIMITS = Limits(pass_gap_s=120, retention_days=30, session_ttl_s=3600, track_max_points=1000)


@pytest.fixture
def store(redis: Redis) -> CoverageStore:
    return CoverageStore(redis, LIMITS)


@pytest.fixture
def coverage(store: CoverageStore, clock: Clock) -> CoverageService:
    return CoverageService(store, clock=clock)
