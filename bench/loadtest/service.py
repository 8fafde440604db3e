"""The service under test: `roadhazard serve` with a data directory of its own, and its stop."""

# httpx and roadhazard are imported inside the functions that need them.
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from throughput.measure import HOST
from throughput.server import Server, free_port, wait_ready

from .procfs import alive, descendants


@dataclass
class Stopped:
    """How the service went away: its exit status and how long SIGTERM took."""

    returncode: int | None = None
    seconds: float | None = None
    killed: list[int] = field(default_factory=list)
    log_levels: Counter[str] = field(default_factory=Counter)  # server log lines by level
    log_events: Counter[str] = field(default_factory=Counter)  # warnings and errors by event

    def describe(self) -> str:
        # uvicorn re-raises the SIGTERM it caught once its graceful shutdown is over.
        status = "-15 (SIGTERM re-raised by uvicorn)" if self.returncode == -15 else None
        text = f"SIGTERM -> exit status {status or self.returncode}"
        text += f" after {self.seconds:.1f} s" if self.seconds is not None else ""
        text += f"; killed {self.killed}" if self.killed else ""
        return text

    def describe_log(self) -> str:
        levels = ", ".join(f"{k} {v:,}" for k, v in self.log_levels.most_common())
        events = ", ".join(f"{k} {v:,}" for k, v in self.log_events.most_common(8))
        return levels + (f" (warnings and errors: {events})" if events else "")


def read_log(path: Path, stopped: Stopped, keep: Path | None) -> None:
    """Counts the server log's lines by level and its problems by event; copies it."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    if keep is not None:
        keep.write_text(text)
    for line in text.splitlines():
        # The console format: `<time> [warning  ] event_name    [logger] key=value ...`
        _, bracket, rest = line.partition(" [")
        level, closing, after = rest.partition("]")
        if not bracket or not closing or " " in level.strip():
            continue
        level = level.strip().lower()
        stopped.log_levels[level] += 1
        if level in ("warning", "error", "critical"):
            event = after.split()[0] if after.split() else "?"
            stopped.log_events[f"{level} {event}"] += 1


def serve_command() -> list[str]:
    script = Path(sys.executable).parent / "roadhazard"
    if script.is_file():
        return [str(script), "serve"]
    return [sys.executable, "-m", "roadhazard.cli", "serve"]


@contextlib.contextmanager
def started_service(
    workers: int,
    extra_env: Mapping[str, str],
    ready_timeout_s: float,
    stopped: Stopped,
    keep_log: Path | None = None,
) -> Iterator[Server]:
    """`roadhazard serve` on a free loopback port, stopped (SIGTERM, wait) on every way out.

    The environment is the caller's without any ROADHAZARD_* variable, plus `extra_env`; the
    working directory and ROADHAZARD_DATA_DIR are a scratch folder, so the service starts its
    own embedded Redis and image store there, and no `.env` applies.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADHAZARD_")}
    port = free_port()
    # Short: the embedded Redis listens on a unix socket under it (108-byte path limit).
    with tempfile.TemporaryDirectory(prefix="rh-load-", dir="/tmp") as scratch:
        env.update(ROADHAZARD_DATA_DIR=str(Path(scratch) / "data"), ROADHAZARD_HOST=HOST)
        env.update(extra_env)
        log_path = Path(scratch) / "server.log"
        command = [*serve_command(), "--host", HOST, "--port", str(port)]
        command += ["--workers", str(workers)]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=scratch,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches this script, which stops the server
            )
        server = Server(process, port, log_path)
        try:
            wait_ready(server, ready_timeout_s)
            yield server
        finally:
            stop(process, stopped)
            read_log(log_path, stopped, keep_log)


def stop(process: subprocess.Popen[bytes], stopped: Stopped, timeout_s: float = 60.0) -> None:
    """SIGTERM, then wait (the service drains its requests and stops its Redis itself).

    Whatever of its tree outlives it (a Redis orphaned by a killed service) is then stopped
    too, by pid: all of these processes were started by this run.
    """
    if process.poll() is not None:
        stopped.returncode = process.returncode
        return
    tree = [pid for pid in descendants(process.pid) if pid != process.pid]
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        stopped.killed.append(process.pid)
    stopped.returncode = process.returncode
    stopped.seconds = time.monotonic() - started
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = [pid for pid in tree if alive(pid)]
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        if sig == signal.SIGKILL:
            stopped.killed.extend(left)
        deadline = time.monotonic() + 10
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = [pid for pid in left if alive(pid)]
        if not left:
            break
