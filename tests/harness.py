"""Running the real app in-process: its lifespan, its resources and an HTTP client."""

from __future__ import annotations

import asyncio
import inspect
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from redis.asyncio import Redis

from roadhazard.app import create_app
from roadhazard.detection.service import DetectorLoader
from roadhazard.lifespan import AppState
from roadhazard.settings import Settings

# CI runs the suite a second time against the machine's Redis on a dedicated database; the
# database is emptied when the first app of a test starts and when the last one stops.
EXTERNAL_REDIS_URL = os.environ.get("ROADHAZARD_TEST_REDIS_URL")
_apps_on_external_redis = 0


async def _flush_external_redis() -> None:
    assert EXTERNAL_REDIS_URL is not None
    client = Redis.from_url(EXTERNAL_REDIS_URL, socket_timeout=5)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@asynccontextmanager
async def _external_redis_scope(settings: Settings) -> AsyncIterator[Settings]:
    global _apps_on_external_redis
    if EXTERNAL_REDIS_URL is None or "redis_url" in settings.model_fields_set:
        yield settings
        return
    if _apps_on_external_redis == 0:
        await _flush_external_redis()
    _apps_on_external_redis += 1
    try:
        yield settings.model_copy(update={"redis_url": SecretStr(EXTERNAL_REDIS_URL)})
    finally:
        _apps_on_external_redis -= 1
        if _apps_on_external_redis == 0:
            await _flush_external_redis()


def redis_across_restarts(settings: Settings) -> AbstractAsyncContextManager[Settings]:
    """For a test that restarts the app: its Redis (the machine's, in CI's second pass) is
    emptied once before and once after, not between the runs. With the embedded server, give
    the runs one `data_dir` instead: the server keeps its data there."""
    return _external_redis_scope(settings)


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: no .env file, console logs, everything else as given."""
    values: dict[str, Any] = {"log_format": "console", "ready_cache_s": 0.0}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running_app(
    settings: Settings,
    *,
    loader: DetectorLoader | None = None,
    wait_loaded: bool = True,
    configure: Callable[[FastAPI], None] | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    with tempfile.TemporaryDirectory(prefix="rh-") as data_dir:
        # A short path: the embedded Redis listens on a unix socket inside the data dir.
        if "data_dir" not in settings.model_fields_set:
            settings = settings.model_copy(update={"data_dir": Path(data_dir)})
        async with _external_redis_scope(settings) as settings_in_use:
            app = create_app(settings_in_use, detector_loader=loader)
            if configure is not None:
                configure(app)
            async with _serving(app, wait_loaded) as running:
                yield running


@asynccontextmanager
async def _serving(
    app: FastAPI, wait_loaded: bool
) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    async with app.router.lifespan_context(app):
        resources = AppState.of(app.state)
        if wait_loaded:
            await resources.detection.wait_loaded()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://roadhazard.test"
        ) as client:
            yield client, resources


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], timeout_s: float = 20.0, poll_s: float = 0.005
) -> None:
    """Waits for a condition (a plain or an async callable) to hold, polling, under a deadline.

    For state another thread or a background task changes, which cannot signal the test. The
    deadline is generous on purpose: it only bounds how long a broken test hangs, so a busy
    machine (CI's two cores, a training job beside it) makes a test slower, never red.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        met = condition()
        if inspect.isawaitable(met):
            met = await met
        if met:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(poll_s)


async def background_settled(resources: AppState, timeout_s: float = 10.0) -> None:
    """Waits until the app's background workers have emptied every outbox queue."""
    queues = [worker.outbox for worker in resources.workers]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        sizes = [(await outbox.backlog()).size for outbox in queues]
        if not any(sizes):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("background work did not settle in time")
