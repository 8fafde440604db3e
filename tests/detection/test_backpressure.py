"""The inference pool: bounded queue, 503 with Retry-After, timeouts, and a free event loop."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from roadhazard.detection.engine import Detector
from roadhazard.detection.pool import InferencePool
from roadhazard.errors import ServiceUnavailable
from tests import scene
from tests.factories import GatedBackend, encode_image
from tests.harness import eventually, make_settings, running_app

JPEG = encode_image(scene.IMAGE_SIZE)


def gated_detector() -> tuple[Detector, GatedBackend]:
    backend = GatedBackend(scene.raw_output(), scene.raw_metadata())
    detector = Detector.from_backend(backend, name="gated", sha256="0" * 64, default_imgsz=320)
    return detector, backend


async def wait_started(backend: GatedBackend, count: int) -> None:
    for _ in range(count):
        assert await asyncio.to_thread(backend.started.acquire, True, 10)


async def post_image(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/v1/detect", files={"image": ("r.jpg", JPEG, "image/jpeg")})


async def test_full_queue_gets_503_and_the_loop_stays_responsive() -> None:
    detector, backend = gated_detector()
    settings = make_settings(inference_concurrency=2, inference_queue_size=2, model_warmup_runs=0)
    async with running_app(settings, loader=lambda: detector) as (client, resources):
        backend.gate.clear()
        in_flight = [asyncio.create_task(post_image(client)) for _ in range(4)]
        await wait_started(backend, 2)
        await eventually(lambda: resources.detection.pool.admitted == 4)

        refused = await post_image(client)
        health_latencies = []
        for _ in range(20):
            started = time.perf_counter()
            health = await client.get("/health")
            health_latencies.append(time.perf_counter() - started)
            assert health.status_code == 200

        backend.gate.set()
        answers = await asyncio.gather(*in_flight)

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    # The gate stays shut while /health is asked: waiting on the pool would never end. A
    # bound this loose still shows no answer queued behind inference, even on a busy machine.
    assert max(health_latencies) < 1.0, health_latencies
    assert [a.status_code for a in answers] == [200] * 4
    assert len(answers[0].json()["detections"]) == 3


async def test_a_slot_is_held_until_its_job_really_ends() -> None:
    pool = InferencePool(concurrency=1, queue_size=0, timeout_s=0.05, retry_after_s=2)
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_job() -> str:
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=10)
        return "done"

    with pytest.raises(ServiceUnavailable, match="did not finish"):
        await pool.run(slow_job)
    # The caller gave up, but the job still runs: the pool must stay full.
    with pytest.raises(ServiceUnavailable, match="queue is full") as refused:
        await pool.run(lambda: "quick")
    assert refused.value.headers == {"Retry-After": "2"}

    release.set()
    await eventually(lambda: pool.admitted == 0)
    assert await pool.run(lambda: "quick") == "quick"
    pool.shutdown()


async def test_a_queued_job_that_times_out_frees_its_slot_at_once() -> None:
    pool = InferencePool(concurrency=1, queue_size=1, timeout_s=0.05, retry_after_s=1)
    gate = asyncio.Event()
    loop = asyncio.get_running_loop()

    def blocker() -> None:
        asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(timeout=10)

    first = asyncio.create_task(pool.run(blocker))
    await eventually(lambda: pool.admitted == 1)
    with pytest.raises(ServiceUnavailable):
        await pool.run(lambda: None)  # queued behind the blocker, times out unstarted

    # Its slot comes back while the blocker still holds its own (the release is scheduled on
    # the loop; the blocker cannot end before the gate opens).
    await eventually(lambda: pool.admitted == 1)
    gate.set()
    with pytest.raises(ServiceUnavailable):
        await first  # it timed out too, but it ran to the end
    pool.shutdown()


async def test_detect_times_out_with_503() -> None:
    detector, backend = gated_detector()
    settings = make_settings(inference_timeout_s=0.1, model_warmup_runs=0)
    async with running_app(settings, loader=lambda: detector) as (client, _):
        backend.gate.clear()
        response = await post_image(client)
        backend.gate.set()

    assert response.status_code == 503
    assert "did not finish" in response.json()["detail"]
