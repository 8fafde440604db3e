"""Scan coverage's cost (issue 15): the latency that recording a frame's coverage adds to the
frame, and the Redis memory it takes per kilometre driven.

Sessions drive a city grid (streets every 100 m, 5 km x 5 km), 10 m a frame, one frame a second
of capture time, turning at random at crossings; all sessions at once, each frame recorded as the
sessions service does it (CoverageService.record: one Lua call). It prints the call's latency
(p50, p95, p99, max: the frame's extra latency) and Redis's used memory per km driven, for the
cells (kept for the retention) and for the sessions' tracks and passes (kept for the session's
TTL). Open reports play no part in coverage, so none are seeded.

    .venv/bin/python bench/coverage.py                     # 20 sessions x 1,000 frames
    .venv/bin/python bench/coverage.py --sessions 5 --frames 200 --redis-url redis://127.0.0.1:6379/13
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from roadhazard.coverage.keys import COVERAGE_PREFIX
from roadhazard.coverage.service import CoverageService
from roadhazard.coverage.store import CoverageStore, Limits, Scan
from scratch_redis import run_on_redis

ORIGIN = (52.49, 13.37)  # the grid's south-west corner
METRES_PER_DEGREE_LAT = 111_320.0
BLOCK_M, STEP_M, GRID_BLOCKS = 100, 10, 50
HEADINGS = {(0, 1): 0.0, (1, 0): 90.0, (0, -1): 180.0, (-1, 0): 270.0}  # (east, north) steps


def position(x_m: float, y_m: float) -> tuple[float, float]:
    lat = ORIGIN[0] + y_m / METRES_PER_DEGREE_LAT
    lon = ORIGIN[1] + x_m / (METRES_PER_DEGREE_LAT * 0.6088)  # cos(52.49 degrees)
    return lat, lon


def drive(rng: random.Random, frames: int) -> list[tuple[float, float, float]]:
    """`frames` positions (lat, lon, heading) along the grid's streets, STEP_M apart."""
    x = rng.randrange(GRID_BLOCKS) * BLOCK_M
    y = rng.randrange(GRID_BLOCKS) * BLOCK_M
    dx, dy = rng.choice(list(HEADINGS))
    out = []
    for _ in range(frames):
        if x % BLOCK_M == 0 and y % BLOCK_M == 0:  # a crossing: straight on, left or right
            dx, dy = rng.choice([(dx, dy), (dx, dy), (-dy, dx), (dy, -dx)])
            limit = GRID_BLOCKS * BLOCK_M
            if not (0 <= x + dx * STEP_M <= limit and 0 <= y + dy * STEP_M <= limit):
                dx, dy = -dx, -dy
        x, y = x + dx * STEP_M, y + dy * STEP_M
        out.append((*position(x, y), HEADINGS[(dx, dy)]))
    return out


async def session(
    coverage: CoverageService, number: int, route: list[tuple[float, float, float]]
) -> list[float]:
    session_id = f"01BENCH{number:019d}"
    start = datetime.now(UTC) - timedelta(hours=1)
    took = []
    for step, (lat, lon, heading) in enumerate(route):
        captured = start + timedelta(seconds=step)
        began = time.perf_counter()
        await coverage.record(Scan(session_id, lat, lon, heading, captured), now=captured)
        took.append((time.perf_counter() - began) * 1000)
    return took


async def memory_usage(redis: Redis, names: list[str]) -> int:
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.memory_usage(name, samples=0)
    return sum(size or 0 for size in await pipe.execute())


async def script_time_us(redis: Redis) -> float:
    """Redis's own time a call of the scripts run since the last CONFIG RESETSTAT."""
    stats = await redis.info("commandstats")
    calls = [stats[name] for name in ("cmdstat_evalsha", "cmdstat_eval") if name in stats]
    return sum(c["usec"] for c in calls) / max(1, sum(c["calls"] for c in calls))


async def coverage_keys(redis: Redis, part: str) -> list[str]:
    return [key async for key in redis.scan_iter(match=f"{COVERAGE_PREFIX}{part}*", count=5000)]


async def run(redis: Redis, sessions: int, frames: int, seed: int) -> None:
    rng = random.Random(seed)
    limits = Limits(pass_gap_s=120, retention_days=90, session_ttl_s=3600, track_max_points=10_000)
    coverage = CoverageService(CoverageStore(redis, limits))
    routes = [drive(rng, frames) for _ in range(sessions)]
    await redis.config_resetstat()
    timings = await asyncio.gather(*(session(coverage, n, r) for n, r in enumerate(routes)))
    redis_us = await script_time_us(redis)
    cells = await coverage_keys(redis, "cell:")
    cells_bytes = await memory_usage(redis, cells)
    session_bytes = await memory_usage(
        redis, await coverage_keys(redis, "track:") + await coverage_keys(redis, "passes:")
    )
    # One session alone: the latency a frame sees without other callers queued on this loop.
    alone = sorted(await session(coverage, sessions, drive(rng, frames)))
    alone_cut = statistics.quantiles(alone, n=100)
    km = sessions * frames * STEP_M / 1000
    took = sorted(t for per_session in timings for t in per_session)
    cut = statistics.quantiles(took, n=100)
    print(
        f"{sessions} sessions x {frames} frames at once, {km:.0f} km driven, "
        f"{len(cells)} cells kept (precisions 7..2)"
    )
    print(
        f"record a frame's coverage (one Lua call): p50 {cut[49]:.2f} ms, p95 {cut[94]:.2f} ms, "
        f"p99 {cut[98]:.2f} ms, max {took[-1]:.2f} ms (client side, {sessions} callers on one "
        f"event loop); Redis's own time {redis_us:.0f} us a call"
    )
    print(f"one session alone: p50 {alone_cut[49]:.2f} ms, p95 {alone_cut[94]:.2f} ms")
    print(
        f"Redis memory per km driven (MEMORY USAGE of the keys): cells, kept "
        f"{limits.retention_days} days, {cells_bytes / km / 1024:.2f} KiB (a cell "
        f"{cells_bytes / max(1, len(cells)):.0f} B); tracks and passes, kept the session's TTL, "
        f"{session_bytes / km / 1024:.2f} KiB"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--frames", type=int, default=1000, help="frames per session")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--redis-url", default=None, help="a database to use (not emptied)")
    args = parser.parse_args(argv)

    run_on_redis(
        args.redis_url,
        COVERAGE_PREFIX,
        lambda redis: run(redis, args.sessions, args.frames, args.seed),
    )


if __name__ == "__main__":
    main()
