from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from roadhazard.redis import EmbeddedRedis, create_client
from tests.fakes.server import unused_port

SYSTEM_REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[EmbeddedRedis]:
    async with EmbeddedRedis(tmp_path) as server:
        yield server


@pytest.fixture
async def system_redis_url() -> str:
    """The machine's own Redis, on a database number of its own, when it runs."""
    probe = create_client(SYSTEM_REDIS_URL, socket_timeout_s=1, connect_timeout_s=1, retries=0)
    try:
        await probe.ping()
    except (RedisError, OSError) as exc:
        pytest.skip(f"no Redis answers at {SYSTEM_REDIS_URL} ({type(exc).__name__})")
    finally:
        await probe.aclose()
    return SYSTEM_REDIS_URL


@pytest.fixture(params=["embedded", "system"])
def server_url(request: pytest.FixtureRequest) -> str:
    """The URL of a real server: our embedded one, then the machine's (db 13)."""
    if request.param == "embedded":
        server: EmbeddedRedis = request.getfixturevalue("embedded")
        return server.url
    url: str = request.getfixturevalue("system_redis_url")
    return url


@dataclass
class HangingServer:
    """A TCP server that accepts connections and never answers a byte."""

    port: int
    connections: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def url(self, credentials: str = "") -> str:
        return f"redis://{credentials}127.0.0.1:{self.port}/0"


@pytest.fixture
async def hanging_server() -> AsyncIterator[HangingServer]:
    hanging = HangingServer(port=0)

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hanging.connections += 1
        hanging._writers.append(writer)
        while await reader.read(4096):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    hanging.port = server.sockets[0].getsockname()[1]
    try:
        yield hanging
    finally:
        for writer in hanging._writers:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: it was just free, and we keep no listener on it."""
    return unused_port()


async def delete_keys(client: Redis, keys: list[str]) -> None:
    if keys:
        await client.delete(*keys)
