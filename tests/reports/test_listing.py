"""The list: each filter, both orders, and cursors that survive concurrent inserts."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace

import pytest

from roadhazard.errors import BadRequest, Unprocessable
from roadhazard.reports.listing import BoundingBox, ReportQuery, encode_cursor
from roadhazard.reports.models import GeoPoint
from roadhazard.reports.service import ReportsService
from roadhazard.reports.states import Action, ReportState, ReportStatus
from roadhazard.taxonomy import resolve
from roadhazard.taxonomy.schemas import Severity
from tests.reports.conftest import HERE, START, Clock, north_of, sighting

FAR = GeoPoint(48.8566, 2.3522)


async def _ids(service: ReportsService, query: ReportQuery) -> list[str]:
    return [r.id for r in (await service.list(query)).reports]


@pytest.fixture
async def catalogue(service: ReportsService, clock: Clock) -> dict[str, str]:
    """Reports one minute apart, each standing out by one attribute."""
    made = {}
    specs = {
        "pothole_here": dict(location=HERE, session_id="A", confidence=0.9),
        "crack_here": dict(location=HERE, hazard=resolve("D00"), session_id="A", confidence=0.3),
        "pothole_far": dict(location=FAR, session_id="B", confidence=0.5),
        "manhole_nowhere": dict(
            location=None, hazard=resolve("D50"), session_id=None, confidence=0.2
        ),
        "pothole_200m": dict(location=north_of(HERE, 200), session_id="B", confidence=0.7),
    }
    for name, spec in specs.items():
        clock.advance(minutes=1)
        made[name] = (await service.create_from_sighting(sighting(**spec))).report_id  # type: ignore[arg-type]
    await service.act(made["pothole_far"], Action.CONFIRM)
    await service.act(made["crack_here"], Action.DISMISS)
    return made


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            ReportQuery(),
            ["pothole_200m", "manhole_nowhere", "pothole_far", "crack_here", "pothole_here"],
        ),
        (ReportQuery(order="oldest", limit=2), ["pothole_here", "crack_here"]),
        (ReportQuery(status=ReportStatus.CLOSED), ["crack_here"]),
        (ReportQuery(state=ReportState.CONFIRMED), ["pothole_far"]),
        (ReportQuery(code="D40"), ["pothole_200m", "pothole_far", "pothole_here"]),
        (ReportQuery(severity=Severity.MEDIUM), ["manhole_nowhere"]),
        (ReportQuery(min_confidence=0.6), ["pothole_200m", "pothole_here"]),
        (ReportQuery(session_id="A"), ["crack_here", "pothole_here"]),
        (ReportQuery(session_id="A", code="D00"), ["crack_here"]),
        (
            ReportQuery(since=START.replace(minute=2), until=START.replace(minute=4)),
            ["pothole_far", "crack_here"],
        ),
        (ReportQuery(near=HERE, radius_m=50), ["crack_here", "pothole_here"]),
        (
            ReportQuery(near=HERE, radius_m=500, order="oldest"),
            ["pothole_here", "crack_here", "pothole_200m"],
        ),
        (
            ReportQuery(near=HERE, radius_m=500, status=ReportStatus.OPEN),
            ["pothole_200m", "pothole_here"],
        ),
        (ReportQuery(bbox=BoundingBox(2.0, 48.0, 3.0, 49.0)), ["pothole_far"]),
        (ReportQuery(bbox=BoundingBox(4.0, 52.0, 5.0, 52.3700001)), ["crack_here", "pothole_here"]),
    ],
)
async def test_filters_and_order(
    service: ReportsService, catalogue: dict[str, str], query: ReportQuery, expected: list[str]
) -> None:
    assert await _ids(service, query) == [catalogue[name] for name in expected]


async def test_area_filters_need_a_radius_and_refuse_foreign_cursors(
    service: ReportsService, catalogue: dict[str, str]
) -> None:
    with pytest.raises(Unprocessable):
        await service.list(ReportQuery(near=HERE))
    with pytest.raises(BadRequest):
        await service.list(ReportQuery(cursor="garbage!"))
    newest = encode_cursor((1, catalogue["pothole_here"]), "newest")
    with pytest.raises(BadRequest, match="another order"):
        await service.list(ReportQuery(cursor=newest, order="oldest"))


@pytest.mark.parametrize("order", ["newest", "oldest"])
@pytest.mark.parametrize("area", [False, True])
async def test_paging_while_others_insert_never_repeats_or_skips(
    service: ReportsService, clock: Clock, order: str, area: bool
) -> None:
    # Many reports share a millisecond, so the (score, id) tie-break is exercised.
    existing = set()
    for n in range(60):
        if n % 7 == 0:
            clock.advance(milliseconds=1)
        where = north_of(HERE, 1000 + n * 30)
        made = sighting(location=where, session_id=None)
        existing.add((await service.create_from_sighting(made)).report_id)
    query = ReportQuery(order=order, limit=7)  # type: ignore[arg-type]
    if area:
        query = replace(query, near=HERE, radius_m=100_000)

    seen: list[str] = []
    cursor = None
    rng = random.Random(4)
    while True:
        page, _ = await asyncio.gather(
            service.list(replace(query, cursor=cursor)),
            # Inserts racing the page, at the current time and in the past.
            service.create_from_sighting(
                sighting(location=north_of(HERE, 5000 + rng.random() * 9000), session_id=None)
            ),
        )
        clock.advance(milliseconds=rng.choice([0, 1]))
        seen += [r.id for r in page.reports]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert len(seen) == len(set(seen))
    assert existing <= set(seen)
    reports = {r.id: r for r in await service.store.get_many(seen)}
    positions = [(reports[i].created_ms, i) for i in seen if i in existing]
    assert positions == sorted(positions, reverse=order == "newest")
