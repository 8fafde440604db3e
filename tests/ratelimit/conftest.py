"""Real Redis for rate limit tests: an embedded server per test, and a clock tests move."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from roadhazard.redis import create_client
from tests.fakes.server import unused_port

# Any time will do; window boundaries fall on multiples of the window since the epoch.
START_S = 1_750_000_000.0


@dataclass
class Clock:
    """Seconds since the epoch, moved by hand; the limiter reads it once per check."""

    now: float = START_S

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def unreachable_redis() -> AsyncIterator[Redis]:
    client = create_client(
        f"redis://127.0.0.1:{unused_port()}", socket_timeout_s=0.2, connect_timeout_s=0.2, retries=0
    )
    try:
        yield client
    finally:
        await client.aclose()
