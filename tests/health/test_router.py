"""/health and /ready through warming, ready and a load error."""

from __future__ import annotations

import asyncio
import importlib.metadata
import re
import threading
import time
from collections.abc import Awaitable
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from roadhazard.detection.engine import Detector
from tests.factories import REPO_ROOT
from tests.fakes.server import unused_port
from tests.harness import make_settings, running_app


async def test_warming_then_ready(raw_model: Path) -> None:
    release = threading.Event()

    def slow_loader() -> Detector:
        if not release.wait(timeout=10):
            raise TimeoutError("test never released the loader")
        return Detector.load(raw_model, "onnxruntime", threads=1, concurrency=1, default_imgsz=640)

    settings = make_settings()
    async with running_app(settings, loader=slow_loader, wait_loaded=False) as (client, res):
        health = await client.get("/health")
        ready = await client.get("/ready")
        detect = await client.post("/v1/detect", files={"image": ("a.jpg", b"x", "image/jpeg")})
        release.set()
        await res.detection.wait_loaded()
        health_after = await client.get("/health")
        ready_after = await client.get("/ready")

    assert health.status_code == 200
    assert health.json()["model_status"] == "warming"
    assert health.json()["status"] == "healthy"
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert ready.json()["checks"]["model"] == {
        "status": "unhealthy",
        "detail": "the model is warming up",
    }
    assert ready.json()["checks"]["redis"]["status"] == "healthy"
    assert detect.status_code == 503
    assert detect.headers["retry-after"] == "1"
    assert health_after.json()["model_status"] == "ready"
    assert ready_after.status_code == 200
    assert ready_after.json()["checks"]["model"] == {
        "status": "healthy",
        "detail": "raw.onnx loaded on onnxruntime",
    }


async def test_load_error_is_reported_not_fatal(tmp_path: Path) -> None:
    settings = make_settings(model_path=tmp_path / "missing.onnx")
    async with running_app(settings) as (client, _):
        health = await client.get("/health")
        ready = await client.get("/ready")
        model = await client.get("/v1/model")

    assert health.status_code == 200
    assert health.json()["model_status"] == "error"
    assert ready.status_code == 503
    assert "model file not found" in ready.json()["checks"]["model"]["detail"]
    assert model.status_code == 503
    assert model.headers["content-type"] == "application/problem+json"
    assert "failed to load" in model.json()["detail"]


async def test_version_has_the_package_version(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, build_sha="abc1234")
    async with running_app(settings) as (client, _):
        body = (await client.get("/health")).json()

    assert body["version"].endswith("+abc1234")


@pytest.mark.parametrize("model_status", ["ready"])
async def test_ready_and_health_answer_concurrently(raw_model: Path, model_status: str) -> None:
    settings = make_settings(model_path=raw_model)
    async with running_app(settings) as (client, _):
        answers = await asyncio.gather(*(client.get("/ready") for _ in range(10)))

    assert {a.status_code for a in answers} == {200}


async def test_version_asks_git_when_no_build_sha_is_given(raw_model: Path) -> None:
    async with running_app(make_settings(model_path=raw_model)) as (client, _):
        version = (await client.get("/health")).json()["version"]

    package_version = importlib.metadata.version("roadhazard")
    if (REPO_ROOT / ".git").exists():
        assert re.fullmatch(rf"{re.escape(package_version)}\+[0-9a-f]{{4,12}}", version)
    else:
        assert version == package_version


async def test_ready_requires_redis(raw_model: Path) -> None:
    # A port nothing listens on: the service still starts, but is not ready.
    settings = make_settings(
        model_path=raw_model,
        redis_url="redis://:s3cret@127.0.0.1:1/0",
        redis_connect_timeout_s=0.2,
        redis_retries=0,
    )
    async with running_app(settings) as (client, _):
        ready = await client.get("/ready")
        health = await client.get("/health")

    assert health.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["checks"]["model"]["status"] == "healthy"
    assert ready.json()["checks"]["redis"]["status"] == "unhealthy"
    assert "s3cret" not in ready.text


async def test_ready_answers_within_its_check_timeout_while_redis_refuses(raw_model: Path) -> None:
    # Production's retry and timeout defaults. The outbox workers and the retention task fail
    # and log their tracebacks meanwhile: rendered with locals, those held the loop for
    # seconds, and /ready took 5 s although every check is limited to 2 s.
    settings = make_settings(model_path=raw_model, redis_url=f"redis://127.0.0.1:{unused_port()}/0")
    limit_s = settings.ready_check_timeout_s
    async with running_app(settings) as (client, _):
        ready_call = asyncio.create_task(_timed(client.get("/ready")))
        health, health_s = await _timed(client.get("/health"))
        ready, ready_s = await ready_call

    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"]["status"] == "unhealthy"
    assert ready_s < limit_s
    assert health.status_code == 200
    assert health_s < limit_s


async def _timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await call
    return response, time.perf_counter() - started


async def test_the_image_store_and_geocoder_checks_answer_while_redis_is_down(
    raw_model: Path,
) -> None:
    """Their backlog lives in Redis: unreadable, it is a short detail, not a failed check."""
    settings = make_settings(
        model_path=raw_model,
        redis_url=f"redis://:s3cret@127.0.0.1:{unused_port()}/0",
        redis_connect_timeout_s=0.2,
        redis_retries=0,
    )
    async with running_app(settings) as (client, _):
        with capture_logs() as logs:
            ready = await client.get("/ready")

    checks = ready.json()["checks"]
    for name in ("image_store", "geocoder"):
        assert checks[name]["status"] == "degraded", checks[name]
        assert checks[name]["detail"].endswith("queue unreadable (Redis: ConnectionError)")
        assert len(checks[name]["detail"]) < 120
    assert ready.status_code == 503  # Redis itself is required
    assert "s3cret" not in ready.text
    assert "127.0.0.1" not in ready.text
    assert [e for e in logs if e["event"] == "readiness_check_failed" or "exc_info" in e] == []
