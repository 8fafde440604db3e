"""The server under test: `roadhazard serve` on a free loopback port, and its readiness."""

# httpx is imported inside wait_ready, to keep this module light.
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .measure import (
    HOST,
    PROBE_TIMEOUT_S,
    READY_POLL_S,
    SERVER_STOP_TIMEOUT_S,
    TICK_S,
    BenchError,
    progress,
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(the server log is empty)"


def relaxed_limits() -> dict[str, str]:
    """Settings that keep the service's rate limits out of the measurement, where it has them.

    The load comes from one address, so per-client limits meant for one dashcam would refuse
    most of it. Looked up in Settings, since the names are the service's to change.
    """
    from roadhazard.settings import Settings

    if "rate_limit_enabled" in Settings.model_fields:
        return {"ROADHAZARD_RATE_LIMIT_ENABLED": "false"}
    return {}


@contextlib.contextmanager
def running_server(
    model: Path, pair: tuple[int, int] | None, ready_timeout_s: float
) -> Iterator[Server]:
    """`roadhazard serve` on a free loopback port, terminated on every way out."""
    # A developer's ROADHAZARD_* variables or .env would silently change what is measured, so
    # the server gets a clean environment and a scratch working directory (which also keeps its
    # ./data out of the repository).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADHAZARD_")}
    port = free_port()
    env.update(
        ROADHAZARD_MODEL_PATH=str(model),
        ROADHAZARD_HOST=HOST,
        ROADHAZARD_PORT=str(port),
        **relaxed_limits(),
    )
    if pair is not None:
        env["ROADHAZARD_INFERENCE_CONCURRENCY"] = str(pair[0])
        env["ROADHAZARD_INFERENCE_THREADS"] = str(pair[1])
    with tempfile.TemporaryDirectory(prefix="roadhazard-bench-") as scratch:
        log_path = Path(scratch) / "server.log"
        # A file, not a pipe: nobody reads the log while measuring, and a full pipe would
        # block the server's access log and so the server itself.
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "roadhazard.cli",
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                ],
                cwd=scratch,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session, so Ctrl-C reaches only this script, which then stops the
                # server in order instead of racing uvicorn's own signal handling.
                start_new_session=True,
            )
        server = Server(process, port, log_path)
        try:
            wait_ready(server, ready_timeout_s)
            yield server
        finally:
            _stop(process)


def wait_ready(server: Server, timeout_s: float) -> None:
    """Polls /ready until it answers 200; fails early, with the log's tail, if the server dies."""
    import httpx

    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    next_note = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=PROBE_TIMEOUT_S, trust_env=False) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise BenchError(
                    f"the server exited with status {server.process.returncode} before it was "
                    f"ready; its log ends with:\n{server.log_tail()}"
                )
            try:
                response = client.get("/ready")
                if response.status_code == 200:
                    return
                last = f"/ready answered {response.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
            if time.monotonic() >= next_note:
                progress(f"waiting for {server.url}/ready ({last})")
                next_note += TICK_S
            time.sleep(READY_POLL_S)
    raise BenchError(
        f"the server was not ready within {timeout_s:g} s ({last}); its log ends with:\n"
        f"{server.log_tail()}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SERVER_STOP_TIMEOUT_S)
