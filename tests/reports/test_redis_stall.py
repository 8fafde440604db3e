"""A Redis that stops answering (SIGSTOP) or goes away: requests get 503 with Retry-After.

A real redis-server on a free TCP port, frozen and thawed with signals: its connections stay
open and commands hang until the client's socket timeout, as in a stalled or swapping server.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

from roadhazard.redis import find_redis_server
from tests.fakes.server import unused_port
from tests.harness import make_settings, running_app

DEADLINE_S = 30.0


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    executable = find_redis_server()
    if executable is None:
        pytest.skip("no redis-server to start")
    port = unused_port()
    # No persistence: the server lives for this test only.
    options = ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    process = subprocess.Popen(
        [str(executable), "--port", str(port), "--bind", "127.0.0.1", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process, f"redis://127.0.0.1:{port}/0"
    finally:
        # A stopped process ignores SIGTERM until it is continued.
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)


async def _answering(url: str) -> None:
    client = Redis.from_url(url, socket_timeout=1)
    try:
        async with asyncio.timeout(DEADLINE_S):
            while True:
                try:
                    if await client.ping():
                        return
                except RedisError:  # still starting
                    await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def _status_becomes(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    async with asyncio.timeout(DEADLINE_S):
        while True:
            response = await client.get(path)
            if response.status_code == status:
                return response
            await asyncio.sleep(0.05)


async def test_a_frozen_redis_is_a_503_with_retry_after_and_recovers(
    raw_model: Path, redis_server: tuple[subprocess.Popen[bytes], str]
) -> None:
    process, url = redis_server
    await _answering(url)
    settings = make_settings(
        model_path=raw_model,
        model_warmup_runs=0,
        redis_url=SecretStr(url),
        redis_socket_timeout_s=0.3,
        redis_connect_timeout_s=0.3,
        redis_retries=0,
        retry_after_s=7,
    )
    async with running_app(settings) as (client, _):
        filed = await client.post("/v1/reports", json={"service_code": "D40", "lat": 52, "lon": 4})
        assert filed.status_code == 201, filed.text
        path = f"/v1/reports/{filed.json()['service_request_id']}"

        process.send_signal(signal.SIGSTOP)
        stalled = await client.get(path)
        listed = await client.get("/v1/reports")

        for response in (stalled, listed):
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "7"
            assert response.headers["content-type"] == "application/problem+json"
            body = response.json()
            assert body["type"].endswith("/service-unavailable")
            assert body["request_id"] == response.headers["x-request-id"]
            assert "127.0.0.1" not in response.text

        process.send_signal(signal.SIGCONT)
        recovered = await _status_becomes(client, path, 200)
        assert recovered.json()["service_code"] == "D40"

        process.kill()
        process.wait(timeout=10)
        gone = await _status_becomes(client, path, 503)
        assert gone.headers["retry-after"] == "7"
