"""GIS exports at size (issue 14): does `GET /v1/reports.geojson` (and `.csv`) of 100,000
reports stream with flat memory?

Starts `roadhazard serve` as `loadtest` does (clean environment, scratch data directory with its
own embedded Redis, rate limits off), seeds reports into that Redis through the store's create
script (`ReportStore.create_many`, pipelined, as bench/clusters.py seeds them: a city, a tenth
across Europe, every class, state and severity), then exports them all over HTTP, once as
GeoJSON and once as CSV, reading the body as it comes. Meanwhile it samples the service's
resident memory (the embedded Redis apart, whose memory is the reports themselves) every
`--rss-every-s`, and prints for each export: reports, bytes, chunks, seconds, and the service's
RSS before, at its peak during, and after.

    nice -n 10 .venv/bin/python bench/export.py                  # 100,000 reports
    nice -n 10 .venv/bin/python bench/export.py --reports 20000  # a quick look

Not a test: it measures, prints and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from dataclasses import dataclass

import httpx

from clusters import CENTRE, seed
from loadtest.procfs import tree_usage
from loadtest.service import Stopped, started_service
from roadhazard.redis import create_client
from roadhazard.reports.store import ReportStore
from throughput.measure import progress, run_cli
from throughput.server import Server, relaxed_limits

EXPORTS = {"GeoJSON": "/v1/reports.geojson", "CSV": "/v1/reports.csv"}
QUIET_S = 2.0  # how long memory is sampled before an export starts, and after it ends


@dataclass(frozen=True)
class Export:
    name: str
    records: int
    bytes: int
    chunks: int
    seconds: float
    rss_before_mib: float
    rss_peak_mib: float
    rss_after_mib: float


def _service_rss_mib(pid: int) -> float:
    usage = tree_usage(pid)
    return usage.service_rss_kib / 1024 if usage is not None else 0.0


async def _sample(pid: int, every_s: float, out: list[float]) -> None:
    while True:
        out.append(_service_rss_mib(pid))
        await asyncio.sleep(every_s)


async def _quiet_rss(pid: int, every_s: float) -> float:
    """The service's RSS at rest: the highest of the samples over QUIET_S."""
    samples: list[float] = []
    sampler = asyncio.create_task(_sample(pid, every_s, samples))
    await asyncio.sleep(QUIET_S)
    sampler.cancel()
    return max(samples)


async def export(http: httpx.AsyncClient, name: str, pid: int, every_s: float) -> Export:
    before = await _quiet_rss(pid, every_s)
    samples: list[float] = []
    sampler = asyncio.create_task(_sample(pid, every_s, samples))
    size = chunks = records = 0
    # Each record's mark, counted as the body goes by (never held whole): the GeoJSON's
    # features, the CSV's lines (the bench's reports have no line breaks in their text).
    mark = b'"type":"Feature"' if name == "GeoJSON" else b"\n"
    tail = b""  # shorter than the mark: a mark across two chunks is counted once
    started = time.perf_counter()
    try:
        async with http.stream("GET", EXPORTS[name]) as response:
            response.raise_for_status()
            async for chunk in response.aiter_raw():
                size += len(chunk)
                chunks += 1
                window = tail + chunk
                records += window.count(mark)
                tail = window[len(window) - len(mark) + 1 :]
    finally:
        seconds = time.perf_counter() - started
        sampler.cancel()
    if name == "CSV":
        records -= 1  # the header row
    after = await _quiet_rss(pid, every_s)
    return Export(name, records, size, chunks, seconds, before, max(samples), after)


async def seed_service(server: Server, count: int, batch: int, seed_value: int) -> None:
    socket = server.log_path.parent / "data" / "redis" / "redis.sock"
    redis = create_client(f"unix://{socket}", socket_timeout_s=120, connect_timeout_s=5, retries=1)
    try:
        rng = random.Random(seed_value)
        started = time.perf_counter()
        await seed(ReportStore(redis), count, rng, [CENTRE], batch)
        memory = (await redis.info("memory"))["used_memory_human"]
        progress(f"seeded {count:,} reports in {time.perf_counter() - started:.0f} s ({memory})")
    finally:
        await redis.aclose()


async def measure(server: Server, every_s: float) -> list[Export]:
    pid = server.process.pid
    async with httpx.AsyncClient(base_url=server.url, timeout=120, trust_env=False) as http:
        # A small export first, so the first measured one does not pay for imports and
        # first-use caches.
        (await http.get(EXPORTS["GeoJSON"], params={"bbox": "0,0,0.001,0.001"})).raise_for_status()
        return [await export(http, name, pid, every_s) for name in EXPORTS]


def report(exports: list[Export], count: int) -> None:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\n{count:,} reports; load average {load} on {os.cpu_count()} CPUs after the exports")
    for done in exports:
        megabytes = done.bytes / 1e6
        print(
            f"{done.name:<8} {done.records:,} reports, {megabytes:.1f} MB in {done.chunks:,} "
            f"chunks, {done.seconds:.1f} s ({done.records / done.seconds:,.0f} reports/s, "
            f"{megabytes / done.seconds:.1f} MB/s)"
        )
        print(
            f"{'':<8} service RSS before {done.rss_before_mib:.0f} MiB, peak during "
            f"{done.rss_peak_mib:.0f} MiB ({done.rss_peak_mib - done.rss_before_mib:+.0f}), "
            f"after {done.rss_after_mib:.0f} MiB"
        )


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000, help="creates per pipeline")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--rss-every-s", type=float, default=0.05)
    parser.add_argument("--ready-timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    stopped = Stopped()
    environment = {**relaxed_limits(), "ROADHAZARD_OFFLINE_GEOCODER": "false"}
    with started_service(1, environment, args.ready_timeout, stopped) as server:
        progress(f"service ready at {server.url}; seeding {args.reports:,} reports")
        asyncio.run(seed_service(server, args.reports, args.batch, args.seed))
        exports = asyncio.run(measure(server, args.rss_every_s))
    report(exports, args.reports)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("export", lambda: run(sys.argv[1:])))
