"""No secret reaches a log line: a real server with known secrets, driven through failures.

Redis with a password is frozen mid-request and then killed, Cloudinary refuses every call
(401), clients send bad input, and a handler crashes while it holds an API key. Every line the
process writes, stdout and stderr, in both log formats, is then searched for each secret.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.exceptions import RedisError

from redis import Redis
from roadhazard.redis import find_redis_server
from tests.factories import REPO_ROOT, jpeg
from tests.fakes.cloudinary import FakeCloudinary
from tests.fakes.server import unused_port
from tests.observability.serve_with_crash import CRASH_PATH, ECHO_HEADER

ADMIN_KEY = "admin-key-5c1f9e2d7a4b8c3e"
REPORTER_KEY = "reporter-key-8e3b6a1f9d2c4b7a"
REDIS_PASSWORD = "redis-pw-4a9d1c7e3f8b"
CLOUDINARY_SECRET = "cloudinary-secret-7f2e9a4c1d6b"
GEOCODER_EMAIL = "ops-contact-31c8@roadhazard.example"
SECRETS = (ADMIN_KEY, REPORTER_KEY, REDIS_PASSWORD, CLOUDINARY_SECRET, GEOCODER_EMAIL)
REPORT = {"service_code": "D40", "lat": 52.37, "lon": 4.89, "description": "deep"}
DEADLINE_S = 60.0

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or find_redis_server() is None,
    reason="needs a redis-server binary and POSIX signals",
)


@dataclass(frozen=True)
class Service:
    url: str
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("log_format", ["json", "console"])
def test_no_secret_reaches_a_log_line(log_format: str, raw_model: Path, tmp_path: Path) -> None:
    fake = FakeCloudinary()  # its own secret, not ours: every signed call is refused with 401
    with (
        fake.serving() as cloudinary_url,
        redis_server(tmp_path) as redis,
        service(tmp_path, raw_model, log_format, redis.port, cloudinary_url) as served,
        httpx.Client(base_url=served.url, timeout=30) as client,
    ):
        report_id = file_a_report(client)
        wait_for(lambda: fake.calls["upload"] >= 1, "an upload refused by Cloudinary")
        send_bad_input(client)
        crash = client.get(
            CRASH_PATH, headers={"X-API-Key": ADMIN_KEY, ECHO_HEADER: REDIS_PASSWORD}
        )
        assert crash.status_code == 500
        wait_for(lambda: "Exception in ASGI application" in served.text(), "uvicorn's crash log")

        redis.process.send_signal(signal.SIGSTOP)  # a stall: connections hang mid-command
        stalled = requests_while(client, report_id)
        redis.process.kill()
        killed_at = len(served.text())
        stalled += requests_while(client, report_id)
        assert all(status >= 400 for status in stalled)
        wait_for(lambda: "outbox_claim_failed" in served.text()[killed_at:], "a worker's failure")

    log = served.text()
    assert "Traceback" in log or '"exception"' in log
    assert "unhandled_exception" in log
    assert {secret: log.count(secret) for secret in SECRETS} == dict.fromkeys(SECRETS, 0)


def file_a_report(client: httpx.Client) -> str:
    image = base64.b64encode(jpeg()).decode()
    created = client.post("/v1/reports", json={**REPORT, "image": image}, headers=reporter())
    assert created.status_code == 201, created.text
    report_id: str = created.json()["service_request_id"]
    return report_id


def send_bad_input(client: httpx.Client) -> None:
    answers = [
        client.post("/v1/detect", content=b"{not json", headers=json_reporter()),
        client.post("/v1/detect", json={"image": "%%%not base64"}, headers=reporter()),
        client.post("/v1/detect", content=b"[" * 10_000 + b"]" * 10_000, headers=json_reporter()),
        client.post("/v1/reports", json={**REPORT, "lat": 1000}, headers=reporter()),
        client.get("/v1/reports", headers={"X-API-Key": REDIS_PASSWORD}),
        client.delete("/v1/reports/nope", headers={"X-API-Key": REPORTER_KEY + "x"}),
    ]
    assert all(400 <= answer.status_code < 500 for answer in answers), [
        (answer.status_code, answer.text) for answer in answers
    ]


def requests_while(client: httpx.Client, report_id: str) -> list[int]:
    """Reads and writes that need Redis, sent together; each answers (with an error)."""
    calls: list[Callable[[], httpx.Response]] = [
        lambda: client.get(f"/v1/reports/{report_id}", headers=reporter()),
        lambda: client.post("/v1/reports", json=REPORT, headers=reporter()),
        lambda: client.get("/v1/reports", headers=reporter()),
        lambda: client.get("/ready"),
    ]
    with ThreadPoolExecutor(len(calls)) as pool:
        return [response.status_code for response in pool.map(lambda call: call(), calls)]


def reporter() -> dict[str, str]:
    return {"X-API-Key": REPORTER_KEY}


def json_reporter() -> dict[str, str]:
    return {**reporter(), "Content-Type": "application/json"}


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {DEADLINE_S} s: {what}")
        time.sleep(0.05)


@dataclass(frozen=True)
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, with a password, that the test may stop and kill."""
    executable = find_redis_server()
    assert executable is not None
    port = unused_port()
    command = [str(executable), "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--requirepass", REDIS_PASSWORD, "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [*command, "--dir", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: _answers_ping(port), "redis-server answering")
        yield RedisServer(process, port)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def _answers_ping(port: int) -> bool:
    client = Redis(port=port, password=REDIS_PASSWORD, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except RedisError:
        return False
    finally:
        client.close()


@contextmanager
def service(
    directory: Path, model: Path, log_format: str, redis_port: int, cloudinary_url: str
) -> Iterator[Service]:
    with tempfile.TemporaryDirectory(prefix="rh-") as data_dir:
        port = unused_port()
        env = {
            **os.environ,
            "ROADHAZARD_DATA_DIR": data_dir,
            "ROADHAZARD_MODEL_PATH": str(model),
            "ROADHAZARD_LOG_FORMAT": log_format,
            "ROADHAZARD_LOG_LEVEL": "DEBUG",
            "ROADHAZARD_API_KEYS": f"admin:{ADMIN_KEY},reporter:{REPORTER_KEY}",
            "ROADHAZARD_PUBLIC_READS": "false",
            "ROADHAZARD_REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/0",
            "ROADHAZARD_REDIS_SOCKET_TIMEOUT_S": "0.5",
            "ROADHAZARD_REDIS_CONNECT_TIMEOUT_S": "0.5",
            "ROADHAZARD_CLOUDINARY_URL": (
                f"cloudinary://614285937261548:{CLOUDINARY_SECRET}@roadhazard-test"
            ),
            "ROADHAZARD_CLOUDINARY_API_URL": cloudinary_url,
            "ROADHAZARD_CLOUDINARY_DELIVERY_URL": cloudinary_url,
            "ROADHAZARD_GEOCODER_URL": f"http://127.0.0.1:{unused_port()}",
            "ROADHAZARD_GEOCODER_EMAIL": GEOCODER_EMAIL,
            "ROADHAZARD_OUTBOX_POLL_S": "0.2",
            "ROADHAZARD_RATE_LIMIT_ENABLED": "false",
            "ROADHAZARD_SHUTDOWN_ANNOUNCE_S": "0",
            "ROADHAZARD_SHUTDOWN_DRAIN_S": "1",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        log = directory / f"service-{log_format}.log"
        command = [sys.executable, "-m", "tests.observability.serve_with_crash", "serve"]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*command, "--port", str(port), "--workers", "1"],
                cwd=REPO_ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        served = Service(f"http://127.0.0.1:{port}", log)
        try:
            wait_for(lambda: _healthy(process, served.url), "the service answering /health")
            yield served
            # As an orchestrator stops it; uvicorn re-raises the signal once it has shut down.
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) in (0, -signal.SIGTERM)
            assert "Finished server process" in served.text()  # nothing queued was lost
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def _healthy(process: subprocess.Popen[bytes], url: str) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the service exited early with {process.returncode}")
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
