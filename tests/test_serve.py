"""`roadhazard serve` as operators run it: real processes, real signals, real sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.server import unused_port


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path


@contextmanager
def serving(
    model: Path,
    *,
    workers: int,
    announce_s: float,
    extra_env: dict[str, str] | None = None,
    redis_url: str | None = None,
) -> Iterator[Served]:
    """`roadhazard serve` on a free port, with the embedded Redis in its own data dir, or with
    `redis_url` (several servers sharing one Redis)."""
    with tempfile.TemporaryDirectory(prefix="rh-") as data_dir:
        port = unused_port()
        env = {
            **os.environ,
            "ROADHAZARD_DATA_DIR": data_dir,
            "ROADHAZARD_MODEL_PATH": str(model),
            "ROADHAZARD_SHUTDOWN_ANNOUNCE_S": str(announce_s),
            "ROADHAZARD_LOG_FORMAT": "json",
            "ROADHAZARD_OFFLINE_GEOCODER": "false",
            **(extra_env or {}),
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.pop("ROADHAZARD_REDIS_URL", None)
        if redis_url is not None:
            env["ROADHAZARD_REDIS_URL"] = redis_url
        command = [sys.executable, "-m", "roadhazard.cli", "serve", "--port", str(port)]
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, url)
            yield Served(process, url, Path(data_dir))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            assert process.stderr is not None
            process.stderr.close()


def _wait_ready(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early with {process.returncode}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("serve did not become ready")


def _counter(metrics_text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@pytest.mark.skipif(sys.platform != "linux", reason="signals and the process model are POSIX")
def test_two_workers_share_metrics_and_shut_down_gracefully(raw_model: Path) -> None:
    announce_s = 6.0
    with serving(raw_model, workers=2, announce_s=announce_s) as served:
        process, url = served.process, served.url
        # A new connection each time, so the kernel may hand them to either worker.
        for _ in range(20):
            assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        # Whichever worker answers a scrape, it adds up both workers' counts.
        counts = {
            _counter(
                httpx.get(f"{url}/metrics", timeout=5).text,
                "http_requests_total",
                route="/health",
                status_class="2xx",
            )
            for _ in range(6)
        }
        assert counts == {20.0}
        metric_files = (served.data_dir / "metrics").glob("counter_*.db")
        assert len({path.stem.split("_")[1] for path in metric_files}) == 2

        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        # Announced: not ready any more, yet still serving, for the announcement period. The
        # supervisor passes the signal on to its workers within its 0.5 s tick; half the
        # period allows for a busy machine, and both workers answer 503 after it.
        answers: list[tuple[float, int]] = []
        while time.monotonic() - started < announce_s - 1.5:
            answers.append(
                (time.monotonic() - started, httpx.get(f"{url}/ready", timeout=2).status_code)
            )
            assert httpx.get(f"{url}/health", timeout=2).status_code == 200
            time.sleep(0.1)
        assert {code for at, code in answers if at > announce_s / 2} == {503}
        assert process.wait(timeout=40) == 0
        assert time.monotonic() - started >= announce_s
