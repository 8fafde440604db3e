"""The acceptance scenarios of tracking, end to end: HTTP frames in, one report per hazard."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from roadhazard.errors import ServiceUnavailable
from roadhazard.lifespan import AppState
from roadhazard.reports.listing import ReportQuery
from roadhazard.reports.service import ReportOutcome, Sighting
from tests.harness import running_app
from tests.sessions.helpers import LAT, LON, METRE_LAT, report_ids, send, session_settings, start
from tests.sessions.scripted import ScriptedBackend, Thing

POTHOLE = Thing(1, 0.80, 300, 300, 360, 340)
# Side by side: same class, same frame, same GPS fix, far apart in the image.
LEFT = Thing(1, 0.85, 60, 300, 120, 340)
RIGHT = Thing(1, 0.75, 500, 300, 560, 340)

ONE, TWO = 1, 2


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend({ONE: [POTHOLE], TWO: [LEFT, RIGHT]})


@pytest.fixture
async def app(backend: ScriptedBackend) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    settings = session_settings(inference_queue_size=64)
    async with running_app(settings, loader=backend.detector) as running:
        yield running


async def report_count(resources: AppState, session_id: str) -> int:
    page = await resources.reports.list(ReportQuery(session_id=session_id, limit=100))
    return len(page.reports)


async def test_a_hazard_in_view_for_ten_seconds_is_one_report(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, resources = app
    session = await start(client)

    ids = [report_ids(await send(client, session, ONE, i * 0.2)) for i in range(50)]

    assert {i for frame in ids for i in frame} == {ids[0][0]}
    stats = (await client.get(f"/v1/sessions/{session}")).json()
    assert (stats["frames"], stats["detections"], stats["hazards"]) == (50, 50, 1)
    assert stats["hazards_by_class"] == {"D40": 1}
    assert stats["duration_s"] == pytest.approx(9.8)
    assert await report_count(resources, session) == 1


async def test_two_hazards_side_by_side_are_two_reports(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, resources = app
    session = await start(client)

    frames = [report_ids(await send(client, session, TWO, i * 0.2)) for i in range(10)]

    assert len(set(frames[0])) == 2
    assert all(frame == frames[0] for frame in frames)
    assert await report_count(resources, session) == 2


async def test_gps_jitter_of_a_few_metres_does_not_split_a_hazard(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, resources = app
    session = await start(client)
    rng = random.Random(7)

    ids: set[str] = set()
    for i in range(30):
        dy, dx = rng.uniform(-3, 3), rng.uniform(-3, 3)
        position = (LAT + dy * METRE_LAT, LON + dx * METRE_LAT / 0.6088)  # cos(52.52 deg)
        ids.update(report_ids(await send(client, session, ONE, i * 0.2, position=position)))

    assert len(ids) == 1
    assert await report_count(resources, session) == 1


async def test_a_gap_longer_than_the_window_is_a_new_sighting(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, resources = app
    session = await start(client)

    first = report_ids(await send(client, session, ONE, 0.0))
    same = report_ids(await send(client, session, ONE, 4.0))
    later = await send(client, session, ONE, 4.0 + 6.0)

    assert same == first
    assert report_ids(later) != first
    assert later.json()["detections"][0]["hazard"]["new"] is True
    assert await report_count(resources, session) == 2


async def test_concurrent_frames_of_one_session_make_one_report(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, resources = app
    session = await start(client)

    answers = await asyncio.gather(*(send(client, session, ONE, i * 0.01) for i in range(20)))

    ids = {i for answer in answers for i in report_ids(answer)}
    news = [d["hazard"]["new"] for a in answers for d in a.json()["detections"]]
    assert len(ids) == 1
    assert news.count(True) == 1
    assert await report_count(resources, session) == 1


async def test_without_gps_boxes_match_in_image_space(
    app: tuple[httpx.AsyncClient, AppState], backend: ScriptedBackend
) -> None:
    client, _ = app
    session = await start(client)
    backend.set_scene(10, [Thing(1, 0.6, 300, 300, 360, 340)])
    backend.set_scene(11, [Thing(1, 0.6, 310, 304, 372, 346)])  # overlaps the first
    backend.set_scene(12, [Thing(1, 0.6, 20, 20, 60, 50)])  # far from both

    first = report_ids(await send(client, session, 10, 0.0, position=None))
    overlapping = report_ids(await send(client, session, 11, 0.2, position=None))
    distant = report_ids(await send(client, session, 12, 0.4, position=None))

    assert overlapping == first
    assert distant != first


async def test_the_best_frame_is_kept(
    app: tuple[httpx.AsyncClient, AppState], backend: ScriptedBackend
) -> None:
    client, resources = app
    session = await start(client)
    confidences = [0.5, 0.7, 0.95, 0.6, 0.8]
    for scene, confidence in enumerate(confidences, start=20):
        backend.set_scene(scene, [Thing(1, confidence, 300, 300, 360, 340)])

    ids = {
        i
        for n, scene in enumerate(range(20, 25))
        for i in report_ids(await send(client, session, scene, n * 0.2))
    }

    (report_id,) = ids
    report = await resources.reports.get(report_id)
    assert report.confidence == pytest.approx(0.95, abs=1e-4)
    assert report.session_id == session
    assert report.code == "D40"
    assert report.location is not None
    assert (report.location.lat, report.location.lon) == pytest.approx((LAT, LON))


async def test_a_report_that_failed_to_be_written_is_written_by_the_next_sighting(
    app: tuple[httpx.AsyncClient, AppState], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, resources = app
    session = await start(client)
    write = resources.reports.create_from_sighting
    calls = 0

    async def fails_once(sighting: Sighting) -> ReportOutcome:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ServiceUnavailable("the image store is down", retry_after=1)
        return await write(sighting)

    monkeypatch.setattr(resources.reports, "create_from_sighting", fails_once)

    failed = await send(client, session, ONE, 0.0)
    retried = await send(client, session, ONE, 0.2)

    assert failed.status_code == 503
    (detection,) = retried.json()["detections"]
    assert detection["hazard"]["new"] is True
    assert (await resources.reports.get(detection["hazard"]["report_id"])).session_id == session
    assert await report_count(resources, session) == 1


async def test_two_app_instances_on_one_redis_act_as_one(
    backend: ScriptedBackend, short_dir: Path
) -> None:
    settings = session_settings(data_dir=short_dir)
    async with (
        running_app(settings, loader=backend.detector) as (first, resources),
        running_app(settings, loader=backend.detector) as (second, _),
    ):
        session = await start(first)
        ids: set[str] = set()
        for i in range(20):
            client = first if i % 2 == 0 else second
            ids.update(report_ids(await send(client, session, TWO, i * 0.2)))
        stats = (await second.get(f"/v1/sessions/{session}")).json()

        assert len(ids) == 2
        assert stats["frames"] == 20
        assert await report_count(resources, session) == 2
