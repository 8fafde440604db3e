"""Opening Redis for the lifespan: the embedded server when no URL is set, then one client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import structlog
from redis.asyncio import Redis

from roadhazard.redis.client import create_client, redact_url
from roadhazard.redis.embedded import EmbeddedRedis

log = structlog.get_logger(__name__)


@asynccontextmanager
async def open_redis(
    url: str | None,
    data_dir: Path,
    *,
    socket_timeout_s: float,
    connect_timeout_s: float,
    retries: int,
    max_connections: int | None = None,
    embedded_start_timeout_s: float = 10.0,
    embedded_executable: Path | None = None,
) -> AsyncIterator[Redis]:
    """Yields the process's client; on exit closes its pool, then stops an embedded server.

    Nothing is asked of an external Redis here: one that is down at start makes the service
    unready (the readiness check says so), not a process that exits and is restarted in a loop.
    An embedded server that cannot start does raise `EmbeddedRedisError`, since nothing will
    fix it by waiting.
    """
    async with AsyncExitStack() as stack:
        if url is None:
            server = await stack.enter_async_context(
                EmbeddedRedis(
                    data_dir,
                    executable=embedded_executable,
                    start_timeout_s=embedded_start_timeout_s,
                )
            )
            url = server.url
            log.info("redis_embedded", url=url, owner=server.is_owner)
        else:
            log.info("redis_external", url=redact_url(url))
        client = create_client(
            url,
            socket_timeout_s=socket_timeout_s,
            connect_timeout_s=connect_timeout_s,
            retries=retries,
            max_connections=max_connections,
        )
        # Registered after the server, so it runs first: the pool closes before SHUTDOWN.
        stack.push_async_callback(client.aclose)
        yield client
