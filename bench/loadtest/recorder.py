"""What a run records: the request budget, each endpoint's outcomes and latencies, lateness,
the service's memory over time, and the progress lines."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from throughput.measure import progress

from .procfs import machine_busy_s, tree_usage


@dataclass
class EndpointStats:
    latencies_s: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)  # "200", "503", "ReadTimeout" ...
    errors: int = 0


@dataclass(frozen=True)
class RssSample:
    elapsed_s: float
    completed: int
    service_kib: int
    redis_kib: int
    service_cpu_s: float
    redis_cpu_s: float
    machine_busy_s: float | None
    client_cpu_s: float
    processes: int


class Recorder:
    """Counts requests against the budget (`--requests` / `--duration-s`) and records results.

    Every request takes a slot with `take` before it is sent; once the budget is spent, `done`
    is set and the schedules stop. Requests that must go out to leave the service clean (the
    sessions' ends) are sent with `force`, and so may exceed the budget by a few.
    """

    def __init__(self, max_requests: int, max_duration_s: float | None) -> None:
        self.max_requests = max_requests
        self.max_duration_s = max_duration_s
        self.started = time.monotonic()
        self.sent = 0
        self.completed = 0
        self.errors = 0
        self.endpoints: dict[str, EndpointStats] = {}
        self.lateness_s: dict[str, list[float]] = {}
        self.samples: list[RssSample] = []
        self.done = asyncio.Event()
        self.last_completion = self.started
        self.error_examples: dict[str, str] = {}
        self.sessions_started = 0
        self.service_gone = False
        self.final_stats: dict[str, Any] = {}  # GET /v1/reports/stats after the run

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def take(self, *, force: bool = False) -> bool:
        if not force:
            over_time = self.max_duration_s is not None and self.elapsed_s >= self.max_duration_s
            if self.done.is_set() or self.sent >= self.max_requests or over_time:
                self.done.set()
                return False
        self.sent += 1
        return True

    def late(self, stream: str, seconds: float) -> None:
        self.lateness_s.setdefault(stream, []).append(max(0.0, seconds))

    def record(self, endpoint: str, outcome: str, latency_s: float) -> None:
        stats = self.endpoints.setdefault(endpoint, EndpointStats())
        stats.outcomes[outcome] += 1
        stats.latencies_s.append(latency_s)
        if not (outcome.isdigit() and 200 <= int(outcome) < 300):
            stats.errors += 1
            self.errors += 1
        self.completed += 1
        self.last_completion = time.monotonic()

    @property
    def in_flight(self) -> int:
        return self.sent - self.completed

    def sample(self, pid: int) -> RssSample | None:
        usage = tree_usage(pid)
        if usage is None:
            return None
        sample = RssSample(
            elapsed_s=self.elapsed_s,
            completed=self.completed,
            service_kib=usage.service_rss_kib,
            redis_kib=usage.redis_rss_kib,
            service_cpu_s=usage.service_cpu_s,
            redis_cpu_s=usage.redis_cpu_s,
            machine_busy_s=machine_busy_s(),
            client_cpu_s=time.process_time(),
            processes=usage.service_processes,
        )
        self.samples.append(sample)
        return sample


async def sample_memory(recorder: Recorder, pid: int, interval_s: float) -> None:
    """One RSS sample a second (or `interval_s`) until the run is over; the caller takes the
    final one after the last reply. /proc is read in a thread: it is a few hundred files."""
    while not recorder.done.is_set():
        if await asyncio.to_thread(recorder.sample, pid) is None:
            progress(f"the service (pid {pid}) is gone; stopping the run")
            recorder.service_gone = True
            recorder.done.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(recorder.done.wait(), interval_s)


async def report_progress(recorder: Recorder, every_s: float, pid: int | None) -> None:
    last_completed, last_time = 0, time.monotonic()
    while True:
        try:
            await asyncio.wait_for(recorder.done.wait(), every_s)
            return
        except TimeoutError:
            pass
        now = time.monotonic()
        rate = (recorder.completed - last_completed) / max(now - last_time, 1e-9)
        last_completed, last_time = recorder.completed, now
        late = sum(1 for values in recorder.lateness_s.values() for v in values if v > 0.1)
        memory = ""
        if pid is not None and recorder.samples:
            latest = recorder.samples[-1]
            memory = (
                f", RSS service {latest.service_kib / 1024:.0f} MiB"
                f" redis {latest.redis_kib / 1024:.0f} MiB"
            )
        target = f"/{recorder.max_requests:,}" if recorder.max_requests < 10**12 else ""
        progress(
            f"{recorder.completed:,}{target} requests, "
            f"{rate:.1f} req/s now, {recorder.errors} errors, {recorder.in_flight} in flight, "
            f"{late} sent >100 ms late{memory}"
        )
