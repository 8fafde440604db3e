"""The sessions contract: create_from_sighting (idempotent, de-duplicated) and record_sighting."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from redis.asyncio import Redis

from roadhazard.detection.engine import Box
from roadhazard.media.service import LocalImageStore, image_key
from roadhazard.reports.service import ReportsService, new_report_id
from roadhazard.reports.states import Action, ReportState
from roadhazard.taxonomy import resolve
from tests.factories import jpeg
from tests.reports.conftest import (
    HERE,
    START,
    Background,
    Clock,
    assert_consistent,
    north_of,
    sighting,
)


async def test_a_sighting_becomes_a_new_report_with_its_images(
    service: ReportsService, images: LocalImageStore, background: Background
) -> None:
    first = sighting(image=jpeg(), confidence=0.7, session_id="S1")
    outcome = await service.create_from_sighting(first)
    report = await service.get(first.report_id)
    assert report.image_status == {"original": "pending", "annotated": "pending"}
    await background.run()
    report = await service.get(first.report_id)

    assert outcome.created
    assert outcome.duplicate_of is None
    assert report.state is ReportState.NEW
    assert report.code == "D40"
    assert report.service_name == "Pothole"
    assert report.class_name == "pothole"
    assert report.session_id == "S1"
    assert report.last_seen == START
    assert report.image_types == {"original": "image/jpeg", "annotated": "image/jpeg"}
    assert report.image_status == {"original": "stored", "annotated": "stored"}
    original = await images.get(image_key(first.report_id, "original"))
    annotated = await images.get(image_key(first.report_id, "annotated"))
    assert original is not None
    assert original.data == first.image
    assert annotated is not None
    assert annotated.data != first.image


async def test_creating_twice_with_one_id_is_a_retry_not_a_second_report(
    service: ReportsService, redis: Redis
) -> None:
    first = sighting()
    outcomes = await asyncio.gather(*(service.create_from_sighting(first) for _ in range(5)))

    assert sorted(o.created for o in outcomes) == [False, False, False, False, True]
    reports = await assert_consistent(redis)
    assert [r.id for r in reports] == [first.report_id]


async def test_a_nearby_open_report_of_the_same_class_absorbs_the_new_one(
    service: ReportsService, clock: Clock, redis: Redis
) -> None:
    original = await service.create_from_sighting(sighting(session_id="A"))
    later = START + timedelta(minutes=30)
    clock.advance(minutes=30)
    near = sighting(location=north_of(HERE, 20), session_id="B", seen_at=later)
    outcome = await service.create_from_sighting(near)

    assert outcome.created
    assert outcome.duplicate_of == original.report_id
    duplicate = await service.get(near.report_id)
    target = await service.get(original.report_id)
    assert duplicate.state is ReportState.DUPLICATE
    assert duplicate.duplicate_of == original.report_id
    assert [t.state for t in duplicate.history] == [ReportState.DUPLICATE]
    assert target.state is ReportState.NEW
    assert target.duplicates == (near.report_id,)
    assert target.confirmations == 1
    assert target.last_seen == later
    assert target.updated == clock.now
    # A retry of the duplicate's creation tells the caller the same link.
    again = await service.create_from_sighting(near)
    assert (again.created, again.duplicate_of) == (False, original.report_id)
    await assert_consistent(redis)


@pytest.mark.parametrize(
    ("case", "metres", "hazard", "close_first"),
    [
        ("too far", 30, "pothole", False),
        ("other class", 5, "manhole", False),
        ("closed report", 5, "pothole", True),
    ],
)
async def test_no_dedupe_outside_radius_other_class_or_closed(
    service: ReportsService,
    redis: Redis,
    case: str,
    metres: float,
    hazard: str,
    close_first: bool,
) -> None:
    first = await service.create_from_sighting(sighting())
    if close_first:
        await service.act(first.report_id, Action.DISMISS)
    other = sighting(location=north_of(HERE, metres), hazard=resolve(hazard))
    outcome = await service.create_from_sighting(other)

    assert outcome.duplicate_of is None, case
    assert (await service.get(other.report_id)).state is ReportState.NEW
    assert (await service.get(first.report_id)).duplicates == ()
    await assert_consistent(redis)


async def test_reports_without_a_location_are_never_deduplicated(
    service: ReportsService,
) -> None:
    first = await service.create_from_sighting(sighting(location=None))
    second = await service.create_from_sighting(sighting(location=None))

    assert first.duplicate_of is None
    assert second.duplicate_of is None


@pytest.mark.parametrize(
    ("farther_m", "nearer_m", "new_m"),
    [
        # The farther report is out of the 25 m radius: 44 m against 16 m.
        (-20, 40, 24),
        # Both are within it (18 m and 12 m), and 30 m apart: neither is the other's duplicate.
        (-15, 15, 3),
    ],
    ids=["one-in-range", "both-in-range"],
)
async def test_the_nearest_open_report_is_the_one_linked(
    service: ReportsService, farther_m: float, nearer_m: float, new_m: float
) -> None:
    farther = await service.create_from_sighting(sighting(location=north_of(HERE, farther_m)))
    nearer = await service.create_from_sighting(sighting(location=north_of(HERE, nearer_m)))
    new = await service.create_from_sighting(sighting(location=north_of(HERE, new_m)))

    assert farther.duplicate_of is None
    assert nearer.duplicate_of is None
    assert new.duplicate_of == nearer.report_id


async def test_record_sighting_replaces_the_best_frame(
    service: ReportsService,
    images: LocalImageStore,
    clock: Clock,
    redis: Redis,
    background: Background,
) -> None:
    first = sighting(image=jpeg(colour=(0, 0, 0)), confidence=0.5)
    await service.create_from_sighting(first)
    better = jpeg(width=80, height=60, colour=(255, 255, 255))
    seen = START + timedelta(seconds=3)
    clock.advance(seconds=4)

    await service.record_sighting(
        first.report_id, confidence=0.9, box=Box(1, 2, 30, 40), image=better, seen_at=seen
    )
    report = await service.get(first.report_id)

    assert report.confidence == 0.9
    assert report.box == Box(1, 2, 30, 40)
    assert report.last_seen == seen
    assert report.updated == clock.now
    await background.run()
    stored = await images.get(image_key(first.report_id, "original"))
    assert stored is not None
    assert stored.data == better
    annotated = await images.get(image_key(first.report_id, "annotated"))
    assert annotated is not None
    with Image.open(Path(images.root / image_key(first.report_id, "annotated"))) as drawn:
        assert drawn.size == (80, 60)
    # A late sighting never moves last_seen backwards.
    await service.record_sighting(
        first.report_id, confidence=0.95, box=Box(1, 2, 3, 4), image=None, seen_at=START
    )
    assert (await service.get(first.report_id)).last_seen == seen

    stats = await service.stats()
    assert stats.mean_confidence == 0.95
    await assert_consistent(redis)


async def test_record_sighting_for_a_deleted_report_does_nothing(
    service: ReportsService, redis: Redis
) -> None:
    await service.record_sighting(
        new_report_id(), confidence=0.9, box=Box(1, 2, 3, 4), image=None, seen_at=START
    )
    assert await assert_consistent(redis) == []


async def test_ids_that_are_not_ulids_are_refused(service: ReportsService) -> None:
    with pytest.raises(ValueError, match="not a report id"):
        await service.create_from_sighting(sighting(report_id="../../etc/passwd"))


async def test_record_sighting_never_replaces_a_better_frame(
    service: ReportsService, images: LocalImageStore, background: Background
) -> None:
    first = sighting(image=jpeg(colour=(0, 0, 0)), confidence=0.8)
    await service.create_from_sighting(first)
    await background.run()
    original = await images.get(image_key(first.report_id, "original"))

    await service.record_sighting(
        first.report_id,
        confidence=0.6,
        box=Box(1, 2, 3, 4),
        image=jpeg(colour=(255, 255, 255)),
        seen_at=START + timedelta(seconds=1),
    )

    report = await service.get(first.report_id)
    assert report.confidence == 0.8
    await background.run()
    stored = await images.get(image_key(first.report_id, "original"))
    assert original is not None
    assert stored is not None
    assert stored.data == original.data


async def test_reports_of_one_session_are_never_duplicates_of_each_other(
    service: ReportsService, redis: Redis
) -> None:
    # Two potholes side by side, told apart by the session's tracker, share one GPS fix.
    left = await service.create_from_sighting(sighting(session_id="S1"))
    right = await service.create_from_sighting(sighting(session_id="S1"))
    # The same spot in another session, or reported by hand, is a duplicate.
    later_drive = await service.create_from_sighting(sighting(session_id="S2"))
    by_hand = await service.create_from_sighting(sighting(session_id=None))

    assert (left.duplicate_of, right.duplicate_of) == (None, None)
    assert later_drive.duplicate_of == left.report_id
    assert by_hand.duplicate_of == left.report_id
    await assert_consistent(redis)
