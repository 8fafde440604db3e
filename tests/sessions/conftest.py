from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from roadhazard.redis import EmbeddedRedis, create_client

# The machine's own Redis (often a newer version than the embedded 6.2), on a test database.
SYSTEM_REDIS_URL = "redis://127.0.0.1:6379/15"
SESSION_KEYS = "rh:{session:*"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A data dir with a short path: the embedded Redis listens on a unix socket inside it."""
    path = Path(tempfile.mkdtemp(prefix="rh-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _client(url: str) -> Redis:
    return create_client(url, socket_timeout_s=2, connect_timeout_s=1, retries=0)


async def _drop_session_keys(client: Redis) -> None:
    found = [key async for key in client.scan_iter(match=SESSION_KEYS)]
    if found:
        await client.delete(*found)


@pytest.fixture(params=["embedded", "system"])
async def redis(request: pytest.FixtureRequest, short_dir: Path) -> AsyncIterator[Redis]:
    if request.param == "embedded":
        async with EmbeddedRedis(short_dir) as server:
            client = _client(server.url)
            try:
                yield client
            finally:
                await client.aclose()
        return
    client = _client(SYSTEM_REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"no Redis answers at {SYSTEM_REDIS_URL} ({type(exc).__name__})")
    await _drop_session_keys(client)
    try:
        yield client
    finally:
        await _drop_session_keys(client)
        await client.aclose()
