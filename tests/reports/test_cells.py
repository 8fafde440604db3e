"""The map's cells: the Lua geohash is Redis's own, the Python cell grid agrees with it, and the
counters follow every change of a report; older reports are counted in by the rebuild."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import cast

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from roadhazard.inputs import GEO_MAX_LAT
from roadhazard.redis import create_client
from roadhazard.redis.lua import LuaScript
from roadhazard.reports import keys
from roadhazard.reports.cells import (
    MAX_CANDIDATE_CELLS,
    bounds,
    cell_width_px,
    covering,
    grid_for,
    precision_for_zoom,
)
from roadhazard.reports.clusters import ensure_cells
from roadhazard.reports.listing import BoundingBox
from roadhazard.reports.models import AddressSettled, AddressStatus, GeoPoint, ReportChanges
from roadhazard.reports.service import ReportsService
from roadhazard.reports.states import Action
from roadhazard.taxonomy import resolve
from roadhazard.taxonomy.schemas import Severity
from tests.harness import eventually
from tests.reports.conftest import HERE, assert_consistent, forget_cells, north_of, sighting

SYSTEM_REDIS_URL = "redis://127.0.0.1:6379/13"
GEOHASH_LUA = (
    LuaScript("roadhazard.reports", "geohash.lua").source
    + """
local out = {}
for i = 1, #ARGV, 2 do out[#out + 1] = geohash(tonumber(ARGV[i]), tonumber(ARGV[i + 1]), 10) end
return out
"""
)
PROBE = "rh:{reports}:test:geohash-probe"


@pytest.fixture(params=["embedded", "system"])
async def any_redis(request: pytest.FixtureRequest, redis: Redis) -> AsyncIterator[Redis]:
    """The embedded server (6.2), then the machine's (CI's 7.x) when one runs."""
    if request.param == "embedded":
        yield redis
        return
    client = create_client(SYSTEM_REDIS_URL, socket_timeout_s=2, connect_timeout_s=1, retries=0)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"no Redis answers at {SYSTEM_REDIS_URL} ({type(exc).__name__})")
    try:
        yield client
    finally:
        await client.delete(PROBE)
        await client.aclose()


def _edge_points(rng: random.Random) -> list[tuple[float, float]]:
    """Exact corners of the world and of the index, and both sides of cell borders."""
    points = [(0.0, 0.0), (0.0, 180.0), (0.0, -180.0), (GEO_MAX_LAT, 180.0)]
    points += [(-GEO_MAX_LAT, -180.0), (GEO_MAX_LAT, 0.0), (-GEO_MAX_LAT, 0.0), (-0.0, -0.0)]
    for _ in range(600):
        precision = rng.randint(1, 7)
        lon_cells, lat_cells = 2 ** ((5 * precision + 1) // 2), 2 ** (5 * precision // 2)
        lon = -180 + rng.randint(0, lon_cells) * 360 / lon_cells
        lat = -90 + rng.randint(0, lat_cells) * 180 / lat_cells
        for nudge in (0.0, 1e-7, -1e-7, 1e-9, -1e-9):
            for moved_lat, moved_lon in ((lat + nudge, lon), (lat, lon + nudge)):
                if abs(moved_lat) <= GEO_MAX_LAT and abs(moved_lon) <= 180:
                    points.append((moved_lat, moved_lon))
    return points


async def _lua_and_redis(redis: Redis, points: list[tuple[float, float]]) -> list[tuple[str, str]]:
    lua = await redis.eval(GEOHASH_LUA, 0, *[repr(v) for point in points for v in point])
    await redis.delete(PROBE)
    await redis.geoadd(PROBE, [v for i, (lat, lon) in enumerate(points) for v in (lon, lat, i)])
    native = await redis.geohash(PROBE, *range(len(points)))
    await redis.delete(PROBE)
    return list(zip(cast(list[str], lua), cast(list[str], native), strict=True))


async def test_the_lua_geohash_is_redis_geohash(any_redis: Redis) -> None:
    rng = random.Random(20261101)
    points = [(rng.uniform(-GEO_MAX_LAT, GEO_MAX_LAT), rng.uniform(-180, 180)) for _ in range(2000)]
    points += _edge_points(rng)
    for start in range(0, len(points), 500):
        pairs = await _lua_and_redis(any_redis, points[start : start + 500])
        mismatched = [
            (p, a, b) for p, (a, b) in zip(points[start:], pairs, strict=False) if a != b[:10]
        ]
        assert mismatched == []
    # Redis's wrap at the antimeridian, which the cells follow.
    [(at_180, _)] = await _lua_and_redis(any_redis, [(0.0, 180.0)])
    [(at_minus_180, _)] = await _lua_and_redis(any_redis, [(0.0, -180.0)])
    assert at_180 == at_minus_180 == "8000000000"


async def test_the_python_grid_names_the_cell_redis_puts_a_point_in(redis: Redis) -> None:
    rng = random.Random(5)
    points = [(rng.uniform(-GEO_MAX_LAT, GEO_MAX_LAT), rng.uniform(-180, 180)) for _ in range(500)]
    pairs = await _lua_and_redis(redis, points)
    for (lat, lon), (lua, _) in zip(points, pairs, strict=True):
        for precision in range(1, 8):
            grid = covering(BoundingBox(lon, lat, lon, lat), precision)
            assert grid.geohashes() == [lua[:precision]]
            cell = bounds(lua[:precision])
            assert cell.min_lon <= lon <= cell.max_lon
            assert cell.min_lat <= lat <= cell.max_lat


def test_the_zoom_table() -> None:
    table = [precision_for_zoom(zoom) for zoom in range(16)]
    assert table == [1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 6, 7]
    widths = [cell_width_px(precision_for_zoom(zoom), zoom) for zoom in range(1, 16)]
    assert min(widths) == 32
    assert max(widths) == 128
    assert precision_for_zoom(22) == 7


def test_a_box_that_needs_too_many_cells_gets_coarser_ones() -> None:
    amsterdam = BoundingBox(4.65, 52.20, 5.10, 52.45)  # about 30 km x 28 km
    assert grid_for(amsterdam, 11).precision == 5
    # At zoom 12 precision 6 would need 42 x 47 cells, over the bound: precision 5 instead.
    assert covering(amsterdam, 6).size == 42 * 47 > MAX_CANDIDATE_CELLS
    assert grid_for(amsterdam, 12).precision == 5
    assert grid_for(BoundingBox(4.85, 52.35, 4.95, 52.40), 12).precision == 6
    world = BoundingBox(-180, -85, 180, 85)
    assert grid_for(world, 15).size <= MAX_CANDIDATE_CELLS
    assert grid_for(world, 0).precision == 1
    assert grid_for(world, 0).size == 32


def test_odd_boxes_give_sane_grids() -> None:
    line = covering(BoundingBox(4.89, 52.3, 4.89, 52.4), 6)  # min_lon == max_lon
    assert line.west == line.east
    assert line.size == line.north - line.south + 1
    dot = covering(BoundingBox(4.89, 52.37, 4.89, 52.37), 7)
    assert dot.size == 1
    east_edge = covering(BoundingBox(179.9, 0, 180, 0.1), 4)
    assert east_edge.wraps
    assert east_edge.columns == [0, 1023]
    assert east_edge.size == 2
    assert not covering(BoundingBox(-180, 0, 180, 1), 1).wraps


async def _cell(redis: Redis, precision: int, geohash: str) -> dict[str, str]:
    """The cell's class|state|severity counters."""
    key = keys.report_cell_combos(precision, geohash)
    return cast(dict[str, str], await redis.hgetall(key))


async def _totals(redis: Redis, precision: int, geohash: str) -> dict[str, str]:
    return cast(dict[str, str], await redis.hgetall(keys.report_cell(precision, geohash)))


async def test_counters_follow_create_transition_update_duplicate_and_delete(
    service: ReportsService, redis: Redis
) -> None:
    first = await service.create_from_sighting(sighting(location=HERE))
    near = north_of(HERE, 5)
    second = await service.create_from_sighting(sighting(location=near))  # a duplicate of it
    assert second.duplicate_of == first.report_id
    cell = await _cell(redis, 7, "u173zm8")
    lat_e6, lon_e6 = 52_370_000, 4_890_000
    near_lat_e6 = round(near.lat * 1e6)
    assert cell == {
        "n:D40|new|high": "1",
        "lat_e6:D40|new|high": str(lat_e6),
        "lon_e6:D40|new|high": str(lon_e6),
        "n:D40|duplicate|high": "1",
        "lat_e6:D40|duplicate|high": str(near_lat_e6),
        "lon_e6:D40|duplicate|high": str(lon_e6),
    }
    assert await _totals(redis, 7, "u173zm8") == {
        "n": "2",
        "lat_e6": str(lat_e6 + near_lat_e6),
        "lon_e6": str(2 * lon_e6),
        "class:D40": "2",
        "state:new": "1",
        "state:duplicate": "1",
        "severity:high": "2",
    }

    await service.act(first.report_id, Action.CONFIRM)
    await service.update(first.report_id, ReportChanges(frozenset({"severity"}), severity=None))
    cell = await _cell(redis, 1, "u")
    assert cell["n:D40|confirmed|unknown"] == "1"
    assert cell["n:D40|duplicate|high"] == "1"
    assert "n:D40|new|high" not in cell
    assert "lat_e6:D40|new|high" not in cell

    await service.delete(second.report_id)
    assert await _cell(redis, 7, "u173zm8") == {
        "n:D40|confirmed|unknown": "1",
        "lat_e6:D40|confirmed|unknown": str(lat_e6),
        "lon_e6:D40|confirmed|unknown": str(lon_e6),
    }
    assert await _totals(redis, 7, "u173zm8") == {
        "n": "1",
        "lat_e6": str(lat_e6),
        "lon_e6": str(lon_e6),
        "class:D40": "1",
        "state:confirmed": "1",
        "severity:unknown": "1",
    }
    await assert_consistent(redis)
    await service.delete(first.report_id)
    assert [key async for key in redis.scan_iter(match=f"{keys.REPORTS_PREFIX}cell*:*")] == []


async def test_a_report_that_moves_changes_cells(service: ReportsService, redis: Redis) -> None:
    made = await service.create_from_sighting(sighting(location=None, hazard=resolve("D00")))
    assert [key async for key in redis.scan_iter(match=f"{keys.REPORTS_PREFIX}cell*:*")] == []
    found = GeoPoint(48.8566, 2.3522)  # geocoding gave it a place
    await service.store.update(
        made.report_id, AddressSettled(AddressStatus.RESOLVED, None, found), "2025-06-01T12:00:00Z"
    )
    [paris] = await assert_consistent(redis)
    assert paris.location == found
    assert (await _cell(redis, 2, "u0"))["n:D00|new|low"] == "1"
    await service.update(
        made.report_id, ReportChanges(frozenset({"severity"}), severity=Severity.HIGH)
    )
    assert (await _cell(redis, 2, "u0"))["n:D00|new|high"] == "1"
    await assert_consistent(redis)


async def test_the_rebuild_counts_older_reports_once(service: ReportsService, redis: Redis) -> None:
    made = [
        (await service.create_from_sighting(sighting(location=north_of(HERE, 300 * n)))).report_id
        for n in range(7)
    ]
    await service.create_from_sighting(sighting(location=None))
    expected = {
        key: await redis.hgetall(key)
        async for key in redis.scan_iter(match=f"{keys.REPORTS_PREFIX}cell*:*")
    }
    await forget_cells(redis, made)
    await service.act(made[0], Action.DISMISS)  # a change before the rebuild: no cell yet

    # Two processes starting at once: each report is still counted once, in small batches.
    added = await asyncio.gather(
        ensure_cells(service.store, service.cells, batch=3),
        ensure_cells(service.store, service.cells, batch=2),
    )
    assert sum(added) == 7
    assert await redis.get(keys.REPORT_CELLS_VERSION) == "1"
    reports = await assert_consistent(redis)
    assert len(reports) == 8
    assert set(expected) == {
        key async for key in redis.scan_iter(match=f"{keys.REPORTS_PREFIX}cell*:*")
    }
    assert await service.ensure_cells() == 0  # the marker is current: one GET


async def test_the_service_rebuilds_the_cells_when_it_starts(
    service: ReportsService, redis: Redis
) -> None:
    made = (await service.create_from_sighting(sighting())).report_id
    await forget_cells(redis, [made])

    async def marked() -> bool:
        return bool(await redis.exists(keys.REPORT_CELLS_VERSION))

    service.start()
    try:
        await eventually(marked)
    finally:
        await service.aclose()
    assert (await _cell(redis, 7, "u173zm8"))["n:D40|new|high"] == "1"
    await assert_consistent(redis)
