"""Real Redis for rate limit tests: an embedded server per test, and a clock tests move."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from roadhazard.redis import EmbeddedRedis, create_client

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
async def redis_url() -> AsyncIterator[str]:
    # A short path: the embedded server's unix socket path must stay under 107 bytes.
    with tempfile.TemporaryDirectory(prefix="rh-") as data_dir:
        async with EmbeddedRedis(Path(data_dir)) as server:
            yield server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = create_client(redis_url, socket_timeout_s=5, connect_timeout_s=5, retries=1)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def unreachable_redis(closed_port: int) -> AsyncIterator[Redis]:
    client = create_client(
        f"redis://127.0.0.1:{closed_port}", socket_timeout_s=0.2, connect_timeout_s=0.2, retries=0
    )
    try:
        yield client
    finally:
        await client.aclose()
