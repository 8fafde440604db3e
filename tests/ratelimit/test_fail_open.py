"""When Redis fails, requests go on unchecked, quickly, with one warning per interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from roadhazard.ratelimit import RateLimiter, limiter
from roadhazard.redis import create_client


@pytest.fixture(autouse=True)
def _loggers_captured(uncached_loggers: Callable[..., None]) -> None:
    uncached_loggers(limiter)


async def test_a_refused_connection_admits_and_warns_once(unreachable_redis: Redis) -> None:
    # No pause between tries, so every check reaches Redis and fails.
    limiter = RateLimiter(unreachable_redis, {"detect": 1}, window_s=1, pause_s=0)

    with capture_logs() as logs:
        results = [await limiter.check("detect", "ip:192.0.2.1") for _ in range(3)]

    assert results == [None, None, None]
    warnings = [entry for entry in logs if entry["event"] == "rate_limit_unavailable"]
    assert len(warnings) == 1
    assert warnings[0]["error"] == "ConnectionError"
    assert "127.0.0.1" not in str(warnings[0])


class SilentServer:
    """Accepts connections and never answers: a Redis that hangs."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.read()  # until the client gives up
        writer.close()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def close(self) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def hanging_redis() -> AsyncIterator[tuple[Redis, SilentServer]]:
    server = SilentServer()
    port = await server.start()
    client = create_client(
        f"redis://127.0.0.1:{port}", socket_timeout_s=5, connect_timeout_s=5, retries=2
    )
    try:
        yield client, server
    finally:
        await client.aclose()
        server.close()


async def test_a_hanging_redis_costs_one_short_timeout(
    hanging_redis: tuple[Redis, SilentServer],
) -> None:
    client, server = hanging_redis
    limiter = RateLimiter(client, {"detect": 1}, window_s=1, timeout_s=1.0, pause_s=60)

    started = time.perf_counter()
    with capture_logs() as logs:
        assert await limiter.check("detect", "ip:192.0.2.1") is None
    first_s = time.perf_counter() - started
    assert 1.0 <= first_s < 5.0  # the limiter's timeout, not the client's 5 s and retries
    assert [entry["error"] for entry in logs] == ["TimeoutError"]

    # Paused after the failure: the next requests do not wait for Redis at all. Ten checks
    # together take less than one timeout; no new connection is even tried.
    connections = server.connections
    started = time.perf_counter()
    for _ in range(10):
        assert await limiter.check("detect", "ip:192.0.2.1") is None
    assert time.perf_counter() - started < 1.0
    assert server.connections == connections


async def test_recovery_is_logged_with_the_unchecked_count(redis: Redis) -> None:
    limiter = RateLimiter(redis, {"detect": 5}, window_s=1, pause_s=0.05)
    with capture_logs():
        limiter._outage.failed(ConnectionError("down"))  # as a failed check reports it
    assert await limiter.check("detect", "ip:192.0.2.1") is None  # paused: unchecked
    await asyncio.sleep(0.06)

    with capture_logs() as logs:
        decision = await limiter.check("detect", "ip:192.0.2.1")

    assert decision is not None
    assert decision.admitted
    assert logs == [{"event": "rate_limit_recovered", "admitted": 1, "log_level": "info"}]
