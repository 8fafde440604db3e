"""Dashcams streaming frames over `WS /v1/sessions/{id}/stream` (issue 14): by default 8 at 5
frames a second each, for 10 minutes, against `roadhazard serve` started on this machine.

It reports the per-frame latency (sending a frame to reading its answer) p50 and p95, the drop
rate (frames replaced by newer ones while inference was busy: latest frame wins), the event
loop's lag p99 over the run (the service's own `event_loop_lag_seconds`) and the service's
resident memory over time, with a progress line every `--progress-s`.

    .venv/bin/python bench/stream.py                     # or: make bench-stream
    nice .venv/bin/python bench/stream.py --duration 60  # a short check

The service runs as `loadtest` starts it: a clean environment (no ROADHAZARD_* of yours), a
scratch data directory with its own embedded Redis, rate limits off (every stream comes from
one address). Frames are the images of `samples/` (or --images), sent in the one-message form
with a GPS fix from a route around a ring road; each stream sends on its own open-loop clock,
so a slow service meets the same offered load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect

from loadtest.dashcam import Route
from loadtest.procfs import machine_busy_s, tree_usage
from loadtest.service import Stopped, started_service
from throughput.inputs import Image, default_images, load_images
from throughput.measure import BenchError, percentile, progress, run_cli
from throughput.server import relaxed_limits

LOOP_LAG = "event_loop_lag_seconds"
# After its last frame, how long a stream waits for the answers still owed to it.
LAST_ANSWERS_S = 30.0


@dataclass
class Tally:
    """Every stream's frames and answers, shared (one event loop)."""

    sent: int = 0
    answered: int = 0
    dropped: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # by problem status
    latencies_s: list[float] = field(default_factory=list)
    late_sends: int = 0  # sent over 100 ms after their time: the client could not keep up


@dataclass(frozen=True)
class MemorySample:
    elapsed_s: float
    service_mib: float
    redis_mib: float


class Dashcam:
    """One session's stream: frames on a fixed clock, answers read as they come."""

    def __init__(self, index: int, count: int, images: list[Image], tally: Tally) -> None:
        self.index, self.count = index, count
        self.images = images
        self.tally = tally
        self.route = Route(index, count, random.Random(index))
        self.sent_at: dict[int, float] = {}  # frames sent and not yet answered, dropped or refused
        self.sending = True
        self.settled = asyncio.Event()  # set once sending is over and nothing is owed

    async def drive(self, url: str, fps: float, until: float) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as http:
            body = {"source": "dashcam", "device": f"bench/stream.py camera {self.index}"}
            created = await http.post("/v1/sessions", json=body)
        if created.status_code != 201:
            raise BenchError(f"POST /v1/sessions answered {created.status_code}: {created.text}")
        ws_url = url.replace("http://", "ws://", 1) + f"/v1/sessions/{created.json()['id']}/stream"
        async with connect(ws_url, max_size=None, open_timeout=30) as ws:
            async with asyncio.timeout(30):
                ready = json.loads(await ws.recv())
            if ready.get("type") != "ready":
                raise BenchError(f"the stream was not admitted: {ready}")
            reader = asyncio.create_task(self._read(ws))
            await self._send(ws, fps, until)
            self.sending = False
            self._settle()
            # Whatever is still owed is answered soon (at most one frame waits per stream).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.settled.wait(), LAST_ANSWERS_S)
            reader.cancel()

    async def _send(self, ws: ClientConnection, fps: float, until: float) -> None:
        interval = 1 / fps
        started = time.monotonic() + interval * self.index / self.count
        number = 0
        while (due := started + number * interval) < until:
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            elif delay < -0.1:
                self.tally.late_sends += 1
            fix = self.route.fix(due - started)
            header = json.dumps(
                {
                    "frame_id": number,
                    "captured_at": datetime.now(UTC).isoformat(),
                    "lat": fix.lat,
                    "lon": fix.lon,
                    "accuracy_m": fix.accuracy_m,
                    "heading": fix.heading,
                    "speed": fix.speed,
                }
            ).encode()
            image = self.images[(number + self.index) % len(self.images)].data
            self.sent_at[number] = time.monotonic()
            self.tally.sent += 1
            await ws.send(struct.pack(">I", len(header)) + header + image)
            number += 1

    def _settle(self) -> None:
        if not self.sending and not self.sent_at:
            self.settled.set()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            await self._read_answers(ws)
        finally:
            self.sent_at.clear()  # the connection is gone: nothing more will be answered
            self._settle()

    async def _read_answers(self, ws: ClientConnection) -> None:
        async for message in ws:
            answer = json.loads(message)
            frame_id = answer.get("frame_id")
            if answer["type"] == "frame":
                self.tally.answered += 1
                self.tally.dropped += answer["dropped"]
                sent = self.sent_at.get(frame_id)
                if sent is not None:
                    self.tally.latencies_s.append(time.monotonic() - sent)
            elif answer["type"] == "error":
                self.tally.errors[str(answer["problem"]["status"])] += 1
            if isinstance(frame_id, int):
                # Frames are taken newest first: an older one not answered by now never will be.
                for older in [n for n in self.sent_at if n <= frame_id]:
                    del self.sent_at[older]
                self._settle()


def loop_lag_buckets(metrics: str) -> dict[float, float]:
    """The cumulative buckets of event_loop_lag_seconds: upper bound -> count."""
    buckets: dict[float, float] = {}
    for line in metrics.splitlines():
        if line.startswith(f'{LOOP_LAG}_bucket{{le="'):
            bound = line.split('"')[1]
            buckets[float("inf") if bound == "+Inf" else float(bound)] = float(line.split()[-1])
    if not buckets:
        raise BenchError(f"/metrics has no {LOOP_LAG}")
    return buckets


def histogram_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """The q-quantile of what was observed between two scrapes, interpolated within its bucket
    as Prometheus' histogram_quantile does (the highest finite bound for the +Inf bucket)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if counts[-1] <= 0:
        return 0.0
    rank = q * counts[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


async def sample_memory(pid: int, started: float, every_s: float, out: list[MemorySample]) -> None:
    while True:
        usage = tree_usage(pid)
        if usage is not None:
            out.append(
                MemorySample(
                    time.monotonic() - started,
                    usage.service_rss_kib / 1024,
                    usage.redis_rss_kib / 1024,
                )
            )
        await asyncio.sleep(every_s)


async def report_progress(tally: Tally, memory: list[MemorySample], every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        p50 = percentile(tally.latencies_s[-2000:], 50)
        rss = f", service RSS {memory[-1].service_mib:.0f} MiB" if memory else ""
        progress(
            f"{tally.sent:,} frames sent, {tally.answered:,} answered, {tally.dropped:,} dropped"
            f", {sum(tally.errors.values())} errors, recent p50 "
            f"{(p50 or 0) * 1000:.0f} ms{rss}"
        )


@dataclass(frozen=True)
class Run:
    tally: Tally
    memory: list[MemorySample]
    loop_lag_p99_s: float
    seconds: float
    machine_cores_busy: float | None
    service_cores: float | None


async def measure(url: str, pid: int, args: argparse.Namespace, images: list[Image]) -> Run:
    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as http:
        lag_before = loop_lag_buckets((await http.get("/metrics")).text)
        tally, memory = Tally(), list[MemorySample]()
        busy_before, usage_before = machine_busy_s(), tree_usage(pid)
        started = time.monotonic()
        background = [
            asyncio.create_task(sample_memory(pid, started, args.rss_every_s, memory)),
            asyncio.create_task(report_progress(tally, memory, args.progress_s)),
        ]
        cameras = [Dashcam(i, args.streams, images, tally) for i in range(args.streams)]
        try:
            await asyncio.gather(
                *(c.drive(url, args.fps, started + args.duration) for c in cameras)
            )
        finally:
            for task in background:
                task.cancel()
        seconds = time.monotonic() - started
        lag_after = loop_lag_buckets((await http.get("/metrics")).text)
    busy_after, usage_after = machine_busy_s(), tree_usage(pid)
    machine = None
    if busy_before is not None and busy_after is not None:
        machine = (busy_after - busy_before) / seconds
    service = None
    if usage_before is not None and usage_after is not None:
        service = (usage_after.service_cpu_s - usage_before.service_cpu_s) / seconds
    lag_p99 = histogram_quantile(0.99, lag_before, lag_after)
    return Run(tally, memory, lag_p99, seconds, machine, service)


def report(run: Run, args: argparse.Namespace, cpus: int, load: tuple[float, ...]) -> None:
    tally = run.tally
    p50, p95 = (percentile(tally.latencies_s, q) for q in (50, 95))
    drop_rate = tally.dropped / tally.sent if tally.sent else 0.0
    busy = f"{run.machine_cores_busy:.2f}" if run.machine_cores_busy is not None else "?"
    service = f"{run.service_cores:.2f}" if run.service_cores is not None else "?"
    print(f"bench/stream.py: {args.streams} streams x {args.fps:g} fps for {run.seconds:.0f} s")
    print(
        f"machine: {cpus} CPUs, load average {load[0]:.2f} at the start; {busy} cores busy"
        f" on average, {service} of them the service's"
    )
    # Rates over the sending period; the run also waited for the last answers.
    print(f"frames sent          {tally.sent:,} ({tally.sent / args.duration:.1f}/s)")
    print(f"answered             {tally.answered:,} ({tally.answered / args.duration:.1f}/s)")
    print(f"dropped              {tally.dropped:,} (drop rate {drop_rate:.1%})")
    errors = ", ".join(f"{status}: {n}" for status, n in sorted(tally.errors.items()))
    print(f"errors               {sum(tally.errors.values())}{f' ({errors})' if errors else ''}")
    print(f"sent >100 ms late    {tally.late_sends}")
    print(f"latency p50          {(p50 or 0) * 1000:.0f} ms (frame sent to its answer read)")
    print(f"latency p95          {(p95 or 0) * 1000:.0f} ms")
    print(f"event-loop lag p99   {run.loop_lag_p99_s * 1000:.1f} ms (event_loop_lag_seconds)")
    print("service RSS over time (MiB; the embedded Redis apart):")
    step = max(1, len(run.memory) // 10)
    shown = run.memory[::step]
    if run.memory and shown[-1] is not run.memory[-1]:
        shown.append(run.memory[-1])
    for sample in shown:
        print(
            f"  {sample.elapsed_s:6.0f} s  service {sample.service_mib:6.0f}"
            f"  redis {sample.redis_mib:5.0f}"
        )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/stream.py",
        description="WebSocket frame streams against roadhazard serve: latency, drops, loop lag"
        " and memory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of streaming")
    parser.add_argument("--streams", type=int, default=8, help="dashcams streaming at once")
    parser.add_argument("--fps", type=float, default=5.0, help="frames a second per stream")
    parser.add_argument("--images", type=Path, help="folder of JPEGs (default: samples/)")
    parser.add_argument("--progress-s", type=float, default=10.0, help="seconds between lines")
    parser.add_argument("--rss-every-s", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--ready-timeout", type=float, default=120.0, help="seconds for /ready")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.streams < 1 or args.fps <= 0:
        raise BenchError("--duration and --fps must be positive, --streams at least 1")
    return args


def run(argv: list[str]) -> int:
    args = parse_args(argv)
    images = load_images((args.images or default_images()).resolve())
    load = os.getloadavg()
    stopped = Stopped()
    with started_service(1, relaxed_limits(), args.ready_timeout, stopped) as server:
        progress(f"service ready at {server.url}; streaming for {args.duration:g} s")
        result = asyncio.run(measure(server.url, server.process.pid, args, images))
    report(result, args, os.cpu_count() or 1, load)
    print(f"service: {stopped.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("bench/stream.py", lambda: run(sys.argv[1:])))
