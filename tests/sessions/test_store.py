"""The tracking store against a real Redis: one track per hazard, atomically."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from roadhazard.errors import Conflict, NotFound
from roadhazard.sessions import keys
from roadhazard.sessions.store import NewSession, Observation, SessionStore, TrackDecision

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LAT, LON = 52.52, 13.405
BOX = (0.4, 0.5, 0.5, 0.6)
_ids = itertools.count()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def observe(
    seconds: float,
    *,
    box: tuple[float, float, float, float] = BOX,
    position: tuple[float, float] | None = (LAT, LON),
    confidence: float = 0.5,
    class_key: str = "D40",
) -> Observation:
    return Observation(
        proposed_id=f"R{next(_ids):05d}",
        captured_at=at(seconds),
        confidence=confidence,
        box=box,
        width=640,
        height=480,
        position=position,
        class_key=class_key,
        class_label=class_key,
    )


@pytest.fixture
async def store(redis: Redis) -> SessionStore:
    store = SessionStore(redis, ttl_s=600, retry_ttl_s=60)
    await store.create(
        NewSession(
            id="S1",
            source="dashcam",
            device="test",
            started_at=T0,
            conf=None,
            iou=None,
            track_window_s=5.0,
            track_radius_m=10.0,
        )
    )
    return store


async def track(store: SessionStore, observation: Observation, frame: str = "") -> TrackDecision:
    frame_id = frame or f"f{next(_ids)}"
    return await store.track("S1", frame_id, observation, window_s=5.0, radius_m=10.0)


async def test_a_hazard_seen_in_many_frames_is_one_track(store: SessionStore) -> None:
    decisions = [await track(store, observe(i * 0.2)) for i in range(50)]

    assert {d.report_id for d in decisions} == {decisions[0].report_id}
    assert [d.is_new for d in decisions] == [True] + [False] * 49
    assert (await store.get("S1")).hazards_by_class == {"D40": 1}


async def test_concurrent_frames_open_exactly_one_track(store: SessionStore) -> None:
    decisions = await asyncio.gather(*(track(store, observe(1.0)) for _ in range(20)))

    assert len({d.report_id for d in decisions}) == 1
    assert sum(d.is_new for d in decisions) == 1


async def test_two_hazards_in_one_frame_at_one_position_are_two_tracks(
    store: SessionStore,
) -> None:
    left, right = (0.1, 0.5, 0.2, 0.6), (0.7, 0.5, 0.8, 0.6)
    first = [await track(store, observe(0, box=b), frame="a") for b in (left, right)]
    second = [await track(store, observe(0.2, box=b), frame="b") for b in (right, left)]

    assert first[0].report_id != first[1].report_id
    assert [d.report_id for d in second] == [first[1].report_id, first[0].report_id]


async def test_gps_jitter_stays_one_track_and_a_distant_hazard_is_another(
    store: SessionStore,
) -> None:
    metre = 1 / 111_320
    jitter = [(-3, 2), (2, -3), (3, 3), (-2, -2), (0, 3)]
    ids = {
        (
            await track(store, observe(i * 0.2, position=(LAT + dy * metre, LON + dx * metre)))
        ).report_id
        for i, (dx, dy) in enumerate(jitter)
    }
    far = await track(store, observe(1.2, position=(LAT + 40 * metre, LON)))

    assert len(ids) == 1
    assert far.is_new


async def test_a_gap_longer_than_the_window_opens_a_new_track(store: SessionStore) -> None:
    before = await track(store, observe(0))
    still = await track(store, observe(4.9))
    after = await track(store, observe(4.9 + 5.1))

    assert still.report_id == before.report_id
    assert after.is_new
    assert after.report_id != before.report_id


# The store matches boxes with IoU >= 0.3 or centres within 0.1 of the image diagonal; the
# images are 640 x 480, so that gap is 80 px.


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # Large boxes: IoU 0.5 (256 x 288 px shared of 512 x 288), centres 128 px apart.
        ((0.0, 0.0, 0.6, 0.6), (0.2, 0.0, 0.8, 0.6)),
        # Small boxes side by side: IoU 0, centres 32 px apart.
        ((0.40, 0.40, 0.42, 0.42), (0.45, 0.40, 0.47, 0.42)),
    ],
    ids=["overlap-alone", "close-centres-alone"],
)
async def test_without_gps_either_rule_alone_matches(
    store: SessionStore,
    first: tuple[float, float, float, float],
    second: tuple[float, float, float, float],
) -> None:
    base = await track(store, observe(0, position=None, box=first))
    same = await track(store, observe(0.2, position=None, box=second))

    assert same.report_id == base.report_id


async def test_without_gps_boxes_neither_overlapping_nor_close_are_two_tracks(
    store: SessionStore,
) -> None:
    base = await track(store, observe(0, position=None, box=(0.40, 0.40, 0.50, 0.50)))
    distant = await track(store, observe(0.2, position=None, box=(0.05, 0.05, 0.10, 0.10)))

    assert distant.is_new
    assert distant.report_id != base.report_id


async def test_a_track_opened_without_gps_is_joined_by_a_gps_frame_that_looks_alike(
    store: SessionStore,
) -> None:
    blind = await track(store, observe(0, position=None))
    # A GPS frame elsewhere in view does not join it: it opens a track of its own, here.
    unlike = await track(store, observe(0.2, box=(0.05, 0.05, 0.10, 0.10)))
    # Looking alike beats being near a track that does not.
    located = await track(store, observe(0.4, position=(LAT, LON)))

    assert unlike.is_new
    assert located.report_id == blind.report_id
    assert not located.is_new


async def test_a_late_frame_older_than_the_window_before_the_first_sighting_is_a_new_track(
    store: SessionStore,
) -> None:
    track_opened = await track(store, observe(20))
    # Captured 10 s before the track's first sighting (the window is 5 s), received after it.
    late = await track(store, observe(10))
    # Captured within the window before the first sighting: the same hazard, seen earlier.
    earlier = await track(store, observe(16))

    assert late.is_new
    assert late.report_id != track_opened.report_id
    assert earlier.report_id == track_opened.report_id


async def test_improved_only_when_confidence_beats_the_best(store: SessionStore) -> None:
    decisions = [
        await track(store, observe(i * 0.2, confidence=c))
        for i, c in enumerate([0.5, 0.7, 0.6, 0.9, 0.9])
    ]

    assert [d.improved for d in decisions] == [True, True, False, True, False]


async def test_other_classes_never_match(store: SessionStore) -> None:
    pothole = await track(store, observe(0))
    crack = await track(store, observe(0.2, class_key="D00"))

    assert crack.is_new
    assert crack.report_id != pothole.report_id


async def test_a_retried_frame_is_counted_once(store: SessionStore, redis: Redis) -> None:
    counted = [
        await store.finish_frame(
            "S1", "retry-1", frozenset(), captured_at=at(1), detections=2, answer="{}", now=T0
        )
        for _ in range(2)
    ]

    record = await store.get("S1")
    assert counted == [True, False]
    assert (record.frames, record.detections) == (1, 2)
    assert record.first_frame_at == record.last_frame_at == at(1)


async def test_every_session_key_carries_a_ttl(store: SessionStore, redis: Redis) -> None:
    await track(store, observe(0))
    await store.mark_reported("S1", "R-any")
    await store.finish_frame(
        "S1", "k", frozenset({"D40"}), captured_at=at(0), detections=1, answer="{}", now=T0
    )

    session_keys = [key async for key in redis.scan_iter(match="rh:{session:S1}:*")]
    assert len(session_keys) >= 7
    ttls = [await redis.ttl(key) for key in session_keys]
    assert all(ttl > 0 for ttl in ttls), dict(zip(session_keys, ttls, strict=True))


async def test_ended_and_unknown_sessions_are_refused(store: SessionStore) -> None:
    ended = await store.end("S1", now=at(10))
    again = await store.end("S1", now=at(20))

    assert ended.state == again.state == "ended"
    assert again.ended_at == at(10)
    with pytest.raises(Conflict):
        await track(store, observe(11))
    with pytest.raises(NotFound):
        await store.get("NOPE")
    with pytest.raises(NotFound):
        await store.end("NOPE", now=at(0))
    assert keys.session_meta("S1") == "rh:{session:S1}:meta"
