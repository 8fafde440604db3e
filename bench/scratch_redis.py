"""The Redis a bench runs on: a given database, whose keys under the bench's prefix are deleted
when it ends, else an embedded server in a temporary directory, gone with it."""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from redis.asyncio import Redis

from roadhazard.redis import EmbeddedRedis, create_client


def run_on_redis(url: str | None, prefix: str, work: Callable[[Redis], Awaitable[None]]) -> None:
    """Runs `work` on `bench_redis(url, prefix)`. SIGTERM cancels it as Ctrl-C does, so the Redis
    and its data go with it; then the process exits 130."""

    async def go() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        async with bench_redis(url, prefix) as redis:
            await work(redis)

    try:
        asyncio.run(go())
    except (asyncio.CancelledError, KeyboardInterrupt):
        sys.exit(130)


@asynccontextmanager
async def bench_redis(url: str | None, prefix: str) -> AsyncIterator[Redis]:
    """A client of `url` (its keys under `prefix` deleted at the end), else of an embedded
    server in a temporary directory."""
    if url is not None:
        client = create_client(url, socket_timeout_s=120, connect_timeout_s=5, retries=1)
        try:
            yield client
        finally:
            async for batch in _key_batches(client, prefix):
                await client.unlink(*batch)
            await client.aclose()
        return
    with tempfile.TemporaryDirectory(prefix="rh-bench-") as data_dir:
        async with EmbeddedRedis(Path(data_dir)) as server:
            client = create_client(server.url, socket_timeout_s=120, connect_timeout_s=5, retries=1)
            try:
                yield client
            finally:
                await client.aclose()


async def _key_batches(client: Redis, prefix: str) -> AsyncIterator[list[str]]:
    batch: list[str] = []
    async for key in client.scan_iter(match=f"{prefix}*", count=5000):
        batch.append(key)
        if len(batch) == 5000:
            yield batch
            batch = []
    if batch:
        yield batch
