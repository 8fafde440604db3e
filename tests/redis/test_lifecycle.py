"""open_redis, as the lifespan uses it: embedded by default, external when a URL is given."""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from redis.asyncio import Redis

from roadhazard.checks import CheckStatus
from roadhazard.redis import EmbeddedRedisError, open_redis, redis_readiness_check


def opened(
    url: str | None, data_dir: Path, executable: Path | None = None
) -> AbstractAsyncContextManager[Redis]:
    return open_redis(
        url,
        data_dir,
        socket_timeout_s=5.0,
        connect_timeout_s=5.0,
        retries=2,
        embedded_executable=executable,
    )


async def test_no_url_means_an_embedded_server_for_the_lifetime_of_the_block(
    tmp_path: Path,
) -> None:
    async with opened(None, tmp_path) as client:
        assert (await redis_readiness_check(client)).status is CheckStatus.HEALTHY
        info = await client.info("server")
        pid = info["process_id"]
        await client.set("rh:test:lifecycle", "1")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

    async with opened(None, tmp_path) as client:
        assert await client.get("rh:test:lifecycle") == "1"


async def test_a_url_uses_that_server_and_starts_nothing(
    tmp_path: Path, system_redis_url: str
) -> None:
    async with opened(system_redis_url, tmp_path) as client:
        result = await redis_readiness_check(client)
        assert result.status is CheckStatus.HEALTHY
    assert not (tmp_path / "redis").exists()


async def test_an_embedded_server_that_cannot_be_found_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError, match="redis-server"):
        async with opened(None, tmp_path, tmp_path / "no-such-redis-server"):
            pass
