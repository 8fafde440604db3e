"""How fast is the map's query (GET /v1/reports/clusters) as reports pile up? Issue 13.

Seeds reports into a Redis through the store (the create script the service runs, pipelined in
batches), spread over a 30 km x 30 km city with a few dense neighbourhoods, a tenth of them
elsewhere in Europe, created over the last year in every class, state and severity; then times
the map's queries, each many times, at each size: the service's own call (`find_clusters`, one
script call) and the same with the GeoJSON answer rendered (`ClusterCollection`), not HTTP.

    .venv/bin/python bench/clusters.py                       # 100,000 then 1,000,000
    .venv/bin/python bench/clusters.py --sizes 20000 --repeat 50
    .venv/bin/python bench/clusters.py --redis-url redis://127.0.0.1:6379/14

Without --redis-url it starts the embedded Redis in a temporary directory, removed at the end.
With one, the database must hold no report keys; the bench deletes its keys when done.
Target: p95 <= 50 ms for the city views at 1,000,000 reports.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from roadhazard.ids import new_ulid
from roadhazard.reports import keys
from roadhazard.reports.cluster_schemas import ClusterCollection
from roadhazard.reports.cluster_store import ClusterStore
from roadhazard.reports.clusters import find_clusters
from roadhazard.reports.listing import BoundingBox, ReportQuery
from roadhazard.reports.models import GeoPoint, Report
from roadhazard.reports.states import ReportState, ReportStatus
from roadhazard.reports.store import ReportStore
from roadhazard.taxonomy import load_taxonomy
from roadhazard.taxonomy.schemas import Severity
from roadhazard.timeutil import epoch_ms, iso
from scratch_redis import run_on_redis

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CENTRE = GeoPoint(52.37, 4.89)
# 30 km x 30 km around CENTRE: 0.27 degrees of latitude, 0.44 of longitude at 52.4 N.
CITY = BoundingBox(4.67, 52.235, 5.11, 52.505)
EUROPE = BoundingBox(-10.0, 36.0, 30.0, 60.0)
DISTRICT = BoundingBox(4.86, 52.355, 4.92, 52.385)  # 4 km x 3.3 km
STATES = [
    (ReportState.NEW, 40),
    (ReportState.CONFIRMED, 20),
    (ReportState.IN_PROGRESS, 10),
    (ReportState.FIXED, 20),
    (ReportState.DISMISSED, 5),
    (ReportState.DUPLICATE, 5),
]


@dataclass(frozen=True)
class View:
    name: str
    box: BoundingBox
    zoom: int
    query: ReportQuery


VIEWS = [
    View("city z11", CITY, 11, ReportQuery()),
    View("city z12", CITY, 12, ReportQuery()),
    View("city z12 status=open", CITY, 12, ReportQuery(status=ReportStatus.OPEN)),
    View("city z12 D40+high", CITY, 12, ReportQuery(code="D40", severity=Severity.HIGH)),
    View("district z14", DISTRICT, 14, ReportQuery()),
    View("district z14 since=7d", DISTRICT, 14, ReportQuery(since=NOW - timedelta(days=7))),
]


def _position(rng: random.Random, hotspots: list[GeoPoint]) -> GeoPoint:
    roll = rng.random()
    if roll < 0.1:
        box = EUROPE
    elif roll < 0.4:  # neighbourhoods where hazards gather (old roads, bus routes)
        spot = rng.choice(hotspots)
        lat = min(max(rng.gauss(spot.lat, 0.004), CITY.min_lat), CITY.max_lat)
        lon = min(max(rng.gauss(spot.lon, 0.006), CITY.min_lon), CITY.max_lon)
        return GeoPoint(round(lat, 6), round(lon, 6))
    else:
        box = CITY
    return GeoPoint(
        round(rng.uniform(box.min_lat, box.max_lat), 6),
        round(rng.uniform(box.min_lon, box.max_lon), 6),
    )


def _report(rng: random.Random, hotspots: list[GeoPoint]) -> Report:
    hazard = rng.choice(load_taxonomy().hazards)
    created = NOW - timedelta(seconds=rng.uniform(0, 365 * 86400))
    severity = hazard.severity if rng.random() < 0.9 else rng.choice([*Severity, None])
    state = rng.choices([s for s, _ in STATES], [w for _, w in STATES])[0]
    confidence = round(rng.uniform(0.25, 0.99), 3)
    return Report(
        id=new_ulid(now_ms=epoch_ms(created)),
        code=hazard.code,
        token=keys.class_token(hazard.code),
        service_name=hazard.name,
        state=state,
        severity=severity,
        class_name=hazard.code,
        confidence=confidence,
        box=None,
        location=_position(rng, hotspots),
        session_id=f"bench-{rng.randrange(5000)}",
        description=None,
        tags=(),
        duplicate_of=None,
        duplicates=(),
        confirmations=0,
        created_ms=epoch_ms(created),
        requested=created,
        updated=created,
        last_seen=created,
        history=(),
    )


async def seed(
    store: ReportStore, count: int, rng: random.Random, hotspots: list[GeoPoint], batch: int
) -> None:
    """Files `count` reports through the store's create script, `batch` to a pipeline."""
    started = time.perf_counter()
    done = 0
    sending: asyncio.Task[object] | None = None
    while done < count:
        reports = [_report(rng, hotspots) for _ in range(min(batch, count - done))]
        if sending is not None:
            await sending
        # The next batch is built while Redis runs this one.
        sending = asyncio.create_task(
            store.create_many(reports, dedupe_radius_m=0, now_iso=iso(NOW))
        )
        await asyncio.sleep(0)  # let it send before building on
        done += len(reports)
        if done % 50_000 < batch or done == count:
            rate = done / (time.perf_counter() - started)
            print(f"  seeded {done:>9,} of {count:,} ({rate:,.0f}/s)", file=sys.stderr)
    if sending is not None:
        await sending


@dataclass(frozen=True)
class Timings:
    queried: list[float]  # ms per call: the query alone
    rendered: list[float]  # ms per call: with the GeoJSON answer rendered
    redis_ms: float  # the mean time Redis spent in the script, by its own count


async def _script_time(redis: Redis) -> tuple[int, int]:
    stats = (await redis.info("commandstats")).get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


async def time_view(cells: ClusterStore, view: View, repeat: int) -> Timings:
    query = ReportQuery(
        bbox=view.box,
        status=view.query.status,
        code=view.query.code,
        severity=view.query.severity,
        since=view.query.since,
    )
    queried: list[float] = []
    rendered: list[float] = []
    calls_before, usec_before = 0, 0
    for round_ in range(repeat + 5):  # five to warm up
        if round_ == 5:
            calls_before, usec_before = await _script_time(cells.redis)
        start = time.perf_counter()
        found = await find_clusters(cells, query, view.zoom)
        middle = time.perf_counter()
        ClusterCollection.from_map(found).model_dump_json()
        end = time.perf_counter()
        if round_ >= 5:
            queried.append((middle - start) * 1000)
            rendered.append((end - start) * 1000)
    calls, usec = await _script_time(cells.redis)
    features = len(found.cells) + len(found.reports)
    print(f"    {view.name}: precision {found.precision}, {features} features", file=sys.stderr)
    return Timings(queried, rendered, (usec - usec_before) / max(1, calls - calls_before) / 1000)


def _percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {cuts[49]:6.1f}  p95 {cuts[94]:6.1f}  p99 {cuts[98]:6.1f}"


async def run(redis: Redis, sizes: list[int], repeat: int, batch: int, seed_value: int) -> None:
    if await redis.exists(keys.REPORTS_BY_TIME):
        raise SystemExit("This Redis database already holds reports; give an empty one.")
    store, cells = ReportStore(redis), ClusterStore(redis)
    rng = random.Random(seed_value)
    hotspots = [
        GeoPoint(rng.uniform(CITY.min_lat, CITY.max_lat), rng.uniform(CITY.min_lon, CITY.max_lon))
        for _ in range(12)
    ]
    seeded = 0
    for size in sizes:
        print(f"seeding to {size:,} reports", file=sys.stderr)
        await seed(store, size - seeded, rng, hotspots, batch)
        seeded = size
        memory = (await redis.info("memory"))["used_memory_human"]
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"\n{size:,} reports (Redis memory {memory}), {repeat} calls a view, in ms")
        print(f"(load average {load} on {os.cpu_count()} CPUs as the timing began):")
        for view in VIEWS:
            timings = await time_view(cells, view, repeat)
            print(f"  {view.name:<24} query    {_percentiles(timings.queried)}")
            print(
                f"  {'':<24} +GeoJSON {_percentiles(timings.rendered)}"
                f"   (Redis {timings.redis_ms:.1f} a call)"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100000,1000000", help="report counts, ascending")
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per view")
    parser.add_argument("--batch", type=int, default=2000, help="creates per pipeline")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--redis-url", default=None, help="an empty database to use")
    args = parser.parse_args(argv)
    sizes = sorted(int(size) for size in args.sizes.split(","))

    run_on_redis(
        args.redis_url,
        keys.REPORTS_PREFIX,
        lambda redis: run(redis, sizes, args.repeat, args.batch, args.seed),
    )


if __name__ == "__main__":
    main()
