"""Scanned cells from synthetic tracks: exact cells, passes and sessions; frames out of order,
two sessions at once, the retention, and coarser cells for a large view."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from roadhazard.coverage import keys
from roadhazard.coverage.service import MAX_CELLS, CoverageService
from roadhazard.reports.listing import BoundingBox
from tests.coverage.conftest import NOW, Clock
from tests.coverage.tracks import DISTRICT, STREET, STREET_BOX, scan_at

pytestmark = pytest.mark.usefixtures("no_coverage_keys")

S1, S2 = "01HV000000000000000000000A", "01HV000000000000000000000B"


async def drive(coverage: CoverageService, session_id: str, cells: list[str], start: float) -> None:
    """One frame a cell, ten seconds apart, recorded as the service's clock reads then."""
    for step, cell in enumerate(cells):
        scan = scan_at(session_id, cell, start + 10 * step)
        await coverage.record(scan, now=scan.captured_at)


async def street_view(coverage: CoverageService) -> dict[str, tuple[int, list[str], str]]:
    view = await coverage.view(BoundingBox(*STREET_BOX), None)
    assert view.precision == 7
    return {
        c.geohash: (c.passes, list(c.sessions), c.last_scanned_at.isoformat()) for c in view.cells
    }


def at(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).isoformat()


async def test_a_drive_down_the_street_scans_each_cell_once(coverage: CoverageService) -> None:
    await drive(coverage, S1, list(STREET), 0)

    assert await street_view(coverage) == {
        "u33dc0c": (1, [S1], at(0)),
        "u33dc0f": (1, [S1], at(10)),
        "u33dc0g": (1, [S1], at(20)),
        "u33dc0u": (1, [S1], at(30)),
    }


async def test_frames_within_the_gap_are_one_pass_and_a_return_is_another(
    coverage: CoverageService,
) -> None:
    await drive(coverage, S1, [STREET[0], STREET[0], STREET[0]], 0)  # stopped at a light
    await drive(coverage, S1, [STREET[1], STREET[0]], 600)  # round the block and back

    assert await street_view(coverage) == {
        "u33dc0c": (2, [S1], at(610)),
        "u33dc0f": (1, [S1], at(600)),
    }


async def test_frames_out_of_order_count_the_passes_they_belong_to(
    coverage: CoverageService,
) -> None:
    # Capture times 600, 0, 10, 300: passes at 0-10, 300 and 600 (the gap is 120 s).
    for seconds in (600, 0, 10, 300):
        await coverage.record(scan_at(S1, STREET[0], seconds), now=NOW + timedelta(seconds=700))

    assert await street_view(coverage) == {"u33dc0c": (3, [S1], at(600))}


async def test_a_retried_frame_changes_nothing(coverage: CoverageService, redis: Redis) -> None:
    scan = scan_at(S1, STREET[0], 0)
    assert await coverage.record(scan, now=NOW) is True
    assert await coverage.record(scan, now=NOW) is False

    assert await street_view(coverage) == {"u33dc0c": (1, [S1], at(0))}
    assert await redis.zcard(keys.session_track(S1)) == 1


async def test_two_sessions_at_once_are_two_passes_by_two_sessions(
    coverage: CoverageService,
) -> None:
    await asyncio.gather(
        drive(coverage, S1, list(STREET[:2]), 0), drive(coverage, S2, list(STREET[1:3]), 5)
    )

    view = await street_view(coverage)
    assert {cell: (p, sorted(s)) for cell, (p, s, _) in view.items()} == {
        "u33dc0c": (1, [S1]),
        "u33dc0f": (2, [S1, S2]),
        "u33dc0g": (1, [S2]),
    }
    assert view["u33dc0f"][2] == at(10)


async def test_a_cell_keeps_its_latest_sessions_only(coverage: CoverageService) -> None:
    sessions = [f"01HV0000000000000000000{n:03d}" for n in range(10)]
    for n, session_id in enumerate(sessions):
        await drive(coverage, session_id, [STREET[0]], n)

    assert await street_view(coverage) == {"u33dc0c": (10, sessions[2:], at(9))}


async def test_since_leaves_out_cells_scanned_before_it(coverage: CoverageService) -> None:
    await drive(coverage, S1, list(STREET[:2]), 0)

    view = await coverage.view(BoundingBox(*STREET_BOX), NOW + timedelta(seconds=5))
    assert [cell.geohash for cell in view.cells] == ["u33dc0f"]


async def test_cells_go_after_the_retention(
    coverage: CoverageService, clock: Clock, redis: Redis
) -> None:
    await drive(coverage, S1, [STREET[0]], 0)
    ttl_ms = await redis.pttl(keys.cell(STREET[0]))
    assert 29 * 86_400_000 < ttl_ms <= 30 * 86_400_000

    clock.advance(days=29, hours=23)
    assert list(await street_view(coverage)) == ["u33dc0c"]
    clock.advance(hours=2)
    assert await street_view(coverage) == {}


async def test_a_frame_older_than_the_retention_scans_nothing(
    coverage: CoverageService, clock: Clock, redis: Redis
) -> None:
    scan = scan_at(S1, STREET[0], 0)
    assert await coverage.record(scan, now=NOW + timedelta(days=31)) is None

    assert await redis.exists(keys.cell(STREET[0])) == 0
    assert await redis.zcard(keys.session_track(S1)) == 1  # its track still has it


async def test_a_large_view_gets_coarser_cells_with_every_pass(coverage: CoverageService) -> None:
    await drive(coverage, S1, list(STREET), 0)
    await drive(coverage, S2, [STREET[3]], 1000)

    city = BoundingBox(13.0, 52.3, 13.8, 52.7)
    view = await coverage.view(city, None)

    assert view.precision == 5
    assert [(c.geohash, c.passes, c.sessions) for c in view.cells] == [(DISTRICT, 2, (S1, S2))]
    assert view.cells[0].last_scanned_at == NOW + timedelta(seconds=1000)


async def test_no_view_asks_for_more_than_the_cap(coverage: CoverageService) -> None:
    await drive(coverage, S1, [STREET[0]], 0)

    world = await coverage.view(BoundingBox(-180, -85, 180, 85), None)

    assert world.precision == 2
    assert [(c.geohash, c.passes) for c in world.cells] == [("u3", 1)]
    assert MAX_CELLS == 1024
