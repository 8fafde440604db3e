from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType

import pytest
import structlog
from redis.asyncio import Redis

from roadhazard.redis import EmbeddedRedis, create_client
from tests import scene
from tests.factories import build_constant_model


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """An embedded Redis of the test's own (packages that test on more servers override it)."""
    # A short path: the embedded server's unix socket path must stay under 107 bytes.
    with tempfile.TemporaryDirectory(prefix="rh-") as data_dir:
        async with EmbeddedRedis(Path(data_dir)) as server:
            yield server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = create_client(redis_url, socket_timeout_s=5, connect_timeout_s=5, retries=1)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def raw_model(model_dir: Path) -> Path:
    return build_constant_model(
        model_dir / "raw.onnx", scene.raw_output(), metadata=scene.raw_metadata()
    )


@pytest.fixture(scope="session")
def tuned_model(model_dir: Path) -> Path:
    """The raw scene with per-class thresholds in its metadata (`scene.TUNED_CLASS_CONF`)."""
    return build_constant_model(
        model_dir / "tuned.onnx", scene.raw_output(), metadata=scene.tuned_metadata()
    )


@pytest.fixture(scope="session")
def end2end_model(model_dir: Path) -> Path:
    return build_constant_model(
        model_dir / "end2end.onnx", scene.end2end_output(), metadata=scene.end2end_metadata()
    )


@pytest.fixture(scope="session")
def yolov5_model(model_dir: Path) -> Path:
    return build_constant_model(
        model_dir / "yolov5.onnx", scene.yolov5_output(), metadata=scene.yolov5_metadata()
    )


@pytest.fixture
def uncached_loggers(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Gives modules a new structlog logger for this test.

    The service caches each module's logger on first use (`cache_logger_on_first_use`), so
    `structlog.testing.capture_logs()` only sees loggers first used inside it; which earlier
    test used a module's logger first must not decide whether its warnings are captured.
    """

    def renew(*modules: ModuleType) -> None:
        for module in modules:
            monkeypatch.setattr(module, "log", structlog.get_logger(module.__name__))

    return renew
