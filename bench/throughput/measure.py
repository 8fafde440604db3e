"""Shared constants, the error type and the small measurement helpers of the benchmark."""

# Standard library only: the /health probe's spawned process imports this module too.
from __future__ import annotations

import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

RATIO_TARGET = 0.85
HEALTH_P99_TARGET_MS = 20.0

HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 2.0
READY_POLL_S = 0.25
SERVER_STOP_TIMEOUT_S = 15.0
TICK_S = 5.0

# The entry point imports this module first thing, so progress times count from the start.
_STARTED = time.monotonic()


class BenchError(Exception):
    """Ends the run with one readable message instead of a traceback."""


def run_cli(name: str, run: Callable[[], int]) -> int:
    """Runs a benchmark's body: a BenchError is one line and exit 2, Ctrl-C exit 130.

    SIGTERM (from a CI runner or `timeout`) takes Ctrl-C's path, so the finally blocks stop
    the server subprocess instead of orphaning it.
    """

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return run()
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130


@dataclass(frozen=True)
class Window:
    """The measured period in time.monotonic() seconds, which all processes here share."""

    start: float
    end: float

    def __contains__(self, moment: float) -> bool:
        return self.start <= moment < self.end


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as numpy's default does."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def progress(message: str) -> None:
    # Progress goes to stderr so that `--json` leaves stdout to the summary alone.
    print(f"[{time.monotonic() - _STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class CpuUse:
    """Average CPU cores busy over a period; None where /proc cannot tell."""

    machine: float | None
    bench: float
    server: float | None

    @property
    def others(self) -> float | None:
        """Cores used by everything else, such as a training job sharing the machine."""
        if self.machine is None:
            return None
        return max(0.0, self.machine - self.bench - (self.server or 0.0))


class CpuMeter:
    """Tells whether the figures are trustworthy: who used the CPUs during a measurement."""

    def __init__(self, server_pid: int | None = None) -> None:
        self._server_pid = server_pid
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float | None, float | None]:
        return (time.monotonic(), time.process_time(), self._machine_busy(), self._server_cpu())

    def _machine_busy(self) -> float | None:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
        except (OSError, IndexError):
            return None
        ticks = [int(v) for v in fields]
        idle = ticks[3] + ticks[4]  # idle + iowait
        return (sum(ticks) - idle) / self._hz

    def _server_cpu(self) -> float | None:
        if self._server_pid is None:
            return None
        try:
            stat = Path(f"/proc/{self._server_pid}/stat").read_text()
        except OSError:
            return None
        # The command name may hold spaces, so count fields from its closing parenthesis.
        after_name = stat.rsplit(")", 1)[1].split()
        return (int(after_name[11]) + int(after_name[12])) / self._hz

    def stop(self) -> CpuUse:
        wall0, own0, machine0, server0 = self._start
        wall1, own1, machine1, server1 = self._sample()
        wall = max(wall1 - wall0, 1e-9)
        return CpuUse(
            machine=None if machine0 is None or machine1 is None else (machine1 - machine0) / wall,
            bench=(own1 - own0) / wall,
            server=None if server0 is None or server1 is None else (server1 - server0) / wall,
        )
