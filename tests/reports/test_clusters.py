"""The map's answers: cells and their filters, single reports at street zoom, the caps, odd
boxes; and the daily counts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from redis.asyncio import Redis

from roadhazard.errors import Unprocessable
from roadhazard.reports import clusters, keys
from roadhazard.reports.cluster_store import CellCount
from roadhazard.reports.clusters import ClusterMap
from roadhazard.reports.listing import BoundingBox, ReportQuery
from roadhazard.reports.models import GeoPoint, ReportChanges
from roadhazard.reports.service import ReportsService
from roadhazard.reports.states import Action, ReportState, ReportStatus
from roadhazard.taxonomy import load_taxonomy, resolve
from roadhazard.taxonomy.schemas import Severity
from tests.reports.conftest import HERE, START, Clock, north_of, sighting

CITY = BoundingBox(4.80, 52.30, 5.00, 52.45)
FAR = GeoPoint(48.8566, 2.3522)


@pytest.fixture
async def city(service: ReportsService, clock: Clock) -> dict[str, str]:
    """Five reports one minute apart: three in one street (one p5 and p6 cell), one 2 km north
    (the next cell north at both), one in Paris."""
    specs = {
        "pothole": dict(location=HERE, session_id="A", confidence=0.9),
        "crack": dict(
            location=north_of(HERE, 40), hazard=resolve("D00"), session_id="A", confidence=0.3
        ),
        "pothole_60m": dict(location=north_of(HERE, 60), session_id="B", confidence=0.5),
        "pothole_2km": dict(location=north_of(HERE, 2000), session_id="B", confidence=0.7),
        "paris": dict(location=FAR, session_id="C"),
    }
    made = {}
    for name, spec in specs.items():
        clock.advance(minutes=1)
        made[name] = (await service.create_from_sighting(sighting(**spec))).report_id  # type: ignore[arg-type]
    await service.act(made["crack"], Action.DISMISS)
    return made


def _summary(found: ClusterMap) -> list[tuple[str, int, dict[str, int]]]:
    return [(c.geohash, c.count, c.by_state) for c in found.cells]


async def _map(service: ReportsService, zoom: int, **filters: object) -> ClusterMap:
    return await service.clusters(ReportQuery(bbox=CITY, **filters), zoom)  # type: ignore[arg-type]


async def test_cells_count_every_report_in_view(
    service: ReportsService, city: dict[str, str]
) -> None:
    found = await _map(service, 11)
    assert found.precision == 5
    assert found.reports == []
    assert _summary(found) == [
        ("u173z", 3, {"new": 2, "dismissed": 1}),
        ("u176p", 1, {"new": 1}),
    ]
    street = found.cells[0]
    assert street.by_class == {"D40": 2, "D00": 1}
    assert street.by_severity == {"high": 2, "low": 1}

    found = await _map(service, 14)
    assert found.precision == 6
    assert _summary(found) == [
        ("u173zm", 3, {"new": 2, "dismissed": 1}),
        ("u176p2", 1, {"new": 1}),
    ]


async def test_the_counters_answer_class_state_status_and_severity(
    service: ReportsService, city: dict[str, str]
) -> None:
    by_filter = {
        "status open": await _map(service, 14, status=ReportStatus.OPEN),
        "status closed": await _map(service, 14, status=ReportStatus.CLOSED),
        "state dismissed": await _map(service, 14, state=ReportState.DISMISSED),
        "class D40": await _map(service, 14, code="D40"),
        "severity low": await _map(service, 14, severity=Severity.LOW),
        "open and dismissed": await _map(
            service, 14, status=ReportStatus.OPEN, state=ReportState.DISMISSED
        ),
    }
    assert {name: _summary(found) for name, found in by_filter.items()} == {
        "status open": [("u173zm", 2, {"new": 2}), ("u176p2", 1, {"new": 1})],
        "status closed": [("u173zm", 1, {"dismissed": 1})],
        "state dismissed": [("u173zm", 1, {"dismissed": 1})],
        "class D40": [("u173zm", 2, {"new": 2}), ("u176p2", 1, {"new": 1})],
        "severity low": [("u173zm", 1, {"dismissed": 1})],
        "open and dismissed": [],
    }


def _centroid(points: list[GeoPoint]) -> tuple[float, float]:
    return (
        round(sum(round(p.lat * 1e6) for p in points) / len(points)) / 1e6,
        round(sum(round(p.lon * 1e6) for p in points) / len(points)) / 1e6,
    )


async def test_the_centroid_is_over_matching_reports_and_exact_after_removals(
    service: ReportsService, city: dict[str, str]
) -> None:
    everything = (await _map(service, 11)).cells[0]
    assert everything.centroid == _centroid([HERE, north_of(HERE, 40), north_of(HERE, 60)])
    open_only = (await _map(service, 11, status=ReportStatus.OPEN)).cells[0]
    assert open_only.centroid == _centroid([HERE, north_of(HERE, 60)])
    await service.delete(city["pothole_2km"])
    await service.delete(city["pothole"])
    [left] = (await _map(service, 11)).cells
    assert left.count == 2
    assert left.centroid == _centroid([north_of(HERE, 40), north_of(HERE, 60)])


async def test_filters_the_counters_cannot_answer_read_the_reports(
    service: ReportsService, city: dict[str, str]
) -> None:
    third = START + timedelta(minutes=3)
    by_filter = {
        "session A": await _map(service, 14, session_id="A"),
        "since 3rd": await _map(service, 14, since=third),
        "until 3rd": await _map(service, 14, until=third),
        "confidence": await _map(service, 14, min_confidence=0.6),
        "session B, open": await _map(service, 14, session_id="B", status=ReportStatus.OPEN),
    }
    assert {name: _summary(found) for name, found in by_filter.items()} == {
        "session A": [("u173zm", 2, {"new": 1, "dismissed": 1})],
        "since 3rd": [("u173zm", 1, {"new": 1}), ("u176p2", 1, {"new": 1})],
        "until 3rd": [("u173zm", 2, {"new": 1, "dismissed": 1})],
        "confidence": [("u173zm", 1, {"new": 1}), ("u176p2", 1, {"new": 1})],
        "session B, open": [("u173zm", 1, {"new": 1}), ("u176p2", 1, {"new": 1})],
    }
    # Counted from the reports or from the counters, a cell is the same.
    scanned = await _map(service, 14, since=START)
    assert scanned.cells == (await _map(service, 14)).cells


async def test_more_possible_matches_than_the_cap_are_refused(
    service: ReportsService, city: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Five reports since START, over a cap of 4: the box's 4 are read, sifted by time.
    monkeypatch.setattr(clusters, "SCAN_CAP", 4)
    assert sum(c.count for c in (await _map(service, 14, since=START)).cells) == 4
    # Session C's one report is in Paris: sifted out by position before it is read.
    assert (await _map(service, 14, session_id="C")).cells == []
    monkeypatch.setattr(clusters, "SCAN_CAP", 3)
    # The session's index holds 2: it is read instead of the box.
    assert [c.count for c in (await _map(service, 14, session_id="A")).cells] == [2]
    with pytest.raises(Unprocessable, match="zoom in, or drop those filters"):
        await _map(service, 14, min_confidence=0.1)  # 4 reports in the box
    # The counters have no cap.
    assert sum(c.count for c in (await _map(service, 14)).cells) == 4


async def test_street_zoom_gives_single_reports(
    service: ReportsService, city: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    street = BoundingBox(4.889, 52.3699, 4.891, 52.3704)  # HERE and 40 m north, not 60 m
    found = await service.clusters(ReportQuery(bbox=street), 16)
    assert found.precision is None
    assert found.cells == []
    assert [p.id for p in found.reports] == sorted([city["pothole"], city["crack"]])
    pothole = next(p for p in found.reports if p.id == city["pothole"])
    assert (pothole.lon, pothole.lat, pothole.code, pothole.state) == (4.89, 52.37, "D40", "new")
    assert (pothole.severity, pothole.confidence, pothole.service_name) == ("high", 0.9, "Pothole")
    open_only = await service.clusters(ReportQuery(bbox=street, status=ReportStatus.OPEN), 18)
    assert [p.id for p in open_only.reports] == [city["pothole"]]

    monkeypatch.setattr(clusters, "POINTS_CAP", 1)
    crowded = await service.clusters(ReportQuery(bbox=street), 16)
    assert crowded.precision == 7
    assert crowded.reports == []
    assert [(c.geohash, c.count) for c in crowded.cells] == [("u173zm8", 2)]


async def test_odd_boxes(service: ReportsService, city: dict[str, str]) -> None:
    def total(cells: list[CellCount]) -> int:
        return sum(c.count for c in cells)

    line = BoundingBox(4.89, 52.0, 4.89, 53.0)  # min_lon == max_lon
    assert total((await service.clusters(ReportQuery(bbox=line), 12)).cells) == 4
    dot = BoundingBox(4.89, 52.37, 4.89, 52.37)
    assert [p.id for p in (await service.clusters(ReportQuery(bbox=dot), 22)).reports] == [
        city["pothole"]
    ]
    assert (await service.clusters(ReportQuery(bbox=dot), 3)).precision == 2
    world = BoundingBox(-180, -85.05, 180, 85.05)
    for zoom in (0, 8, 15):
        assert total((await service.clusters(ReportQuery(bbox=world), zoom)).cells) == 5
    everywhere = await service.clusters(ReportQuery(bbox=world, since=START), 0)
    assert total(everywhere.cells) == 5
    assert len((await service.clusters(ReportQuery(bbox=world), 22)).reports) == 5
    empty = BoundingBox(-10, -10, -10, -10)
    assert (await service.clusters(ReportQuery(bbox=empty), 9)).cells == []


async def test_a_report_on_the_antimeridian_is_found_from_either_side(
    service: ReportsService,
) -> None:
    await service.create_from_sighting(sighting(location=GeoPoint(10.0, 180.0)))
    east = await service.clusters(ReportQuery(bbox=BoundingBox(179.0, 9.0, 180.0, 11.0)), 9)
    west = await service.clusters(ReportQuery(bbox=BoundingBox(-180.0, 9.0, -179.0, 11.0)), 9)
    # Redis's geohash puts it in the westernmost column; a box that reaches 180 takes it too.
    assert [c.geohash for c in east.cells] == [c.geohash for c in west.cells] == ["81b0"]
    assert [c.count for c in east.cells] == [1]


async def test_daily_counts_are_per_utc_day_oldest_first(
    service: ReportsService, clock: Clock
) -> None:
    for hours in (0, 1, 11, 13, 37, 24 * 40):  # START is 12:00 UTC
        clock.now = START - timedelta(hours=hours)
        await service.create_from_sighting(sighting())
    clock.now = START
    days = await service.daily_counts(3)
    assert days == [(date(2025, 5, 30), 1), (date(2025, 5, 31), 1), (date(2025, 6, 1), 3)]
    assert [count for _, count in await service.daily_counts(1)] == [3]
    month = await service.daily_counts(30)
    assert len(month) == 30
    assert month[0][0] == date(2025, 5, 3)
    assert sum(count for _, count in month) == 5
    assert sum(count for _, count in await service.daily_counts(366)) == 6


async def test_narrow_and_wide_counter_filters_agree_with_the_reports(
    service: ReportsService, redis: Redis
) -> None:
    """A cell holding many combinations: a narrow filter asks for its few by name, a wide one
    reads them all; both must give what counting the reports one by one gives."""
    for hazard in load_taxonomy().hazards:
        first = await service.create_from_sighting(sighting(hazard=resolve(hazard.code)))
        await service.create_from_sighting(
            sighting(hazard=resolve(hazard.code), location=north_of(HERE, 3))
        )  # a duplicate of the first
        await service.update(
            first.report_id, ReportChanges(frozenset({"severity"}), severity=Severity.HIGH)
        )
    held = await redis.hlen(keys.report_cell_combos(7, "u173zm8"))
    assert held >= 3 * 4 * 2  # D40 and high: 2 states x 1 x 1 allowed, read by name
    spot = BoundingBox(4.8899, 52.3699, 4.8901, 52.3701)
    for filters in (
        {"code": "D40", "severity": Severity.HIGH},
        {"status": ReportStatus.OPEN},
        {"state": ReportState.DUPLICATE, "code": "D00"},
        {"severity": Severity.LOW},
    ):
        counted = await service.clusters(ReportQuery(bbox=spot, **filters), 15)  # type: ignore[arg-type]
        scanned = await service.clusters(
            ReportQuery(bbox=spot, since=START - timedelta(days=1), **filters),  # type: ignore[arg-type]
            15,
        )
        assert counted.cells == scanned.cells, filters
        assert counted.cells
