"""Indexes, stats, deletion and retention; and failures half-way that leave nothing half-done."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from roadhazard.ids import is_ulid as is_report_id
from roadhazard.ids import new_ulid as new_report_id
from roadhazard.ids import ulid_time_ms
from roadhazard.media.service import LocalImageStore
from roadhazard.reports import codec, keys
from roadhazard.reports.service import ReportsService
from roadhazard.reports.states import Action
from roadhazard.reports.store import ReportStore
from roadhazard.taxonomy import resolve
from roadhazard.timeutil import iso
from tests.factories import jpeg
from tests.harness import eventually
from tests.reports.conftest import (
    HERE,
    START,
    Background,
    Clock,
    assert_consistent,
    north_of,
    sighting,
)


def test_ulids_sort_by_time_and_validate() -> None:
    ids = [new_report_id(now_ms=ms) for ms in (1, 2, 1_700_000_000_000)]
    assert ids == sorted(ids)
    assert all(len(i) == 26 and is_report_id(i) for i in ids)
    assert ulid_time_ms(ids[2]) == 1_700_000_000_000
    assert not is_report_id("0" * 25)
    assert not is_report_id("I" * 26)


async def test_the_script_writes_the_keys_redis_keys_names(
    service: ReportsService, redis: Redis
) -> None:
    made = sighting(session_id="S9")
    await service.create_from_sighting(made)
    names = {key async for key in redis.scan_iter(match="rh:*")}

    assert names == {
        keys.report(made.report_id),
        keys.REPORTS_BY_TIME,
        keys.REPORT_STATS,
        keys.REPORTS_GEO_ALL,
        keys.reports_geo("D40"),
        keys.reports_by_state("new"),
        keys.reports_by_status("open"),
        keys.reports_by_class("D40"),
        keys.reports_by_session("S9"),
        # The map's cells at every precision (HERE's geohash is u173zm8...).
        *(keys.report_cell(precision, "u173zm8"[:precision]) for precision in range(1, 8)),
        *(keys.report_cell_combos(p, "u173zm8"[:p]) for p in range(1, 8)),
        # Its address is looked up in the background.
        keys.report_queue("geocode"),
        keys.report_job("geocode", made.report_id),
        # What happened, for the live feed.
        keys.REPORT_EVENTS,
    }
    assert await redis.zscore(keys.REPORTS_BY_TIME, made.report_id) == (
        (await service.get(made.report_id)).created_ms
    )


def test_a_model_class_name_that_cannot_be_a_key_gets_a_digest_token() -> None:
    assert keys.class_token("D40") == "D40"
    token = keys.class_token("pot hole {x}")
    assert token.startswith("x-")
    assert keys.reports_by_class(token)


async def test_a_script_refused_half_way_writes_nothing(
    service: ReportsService, redis: Redis
) -> None:
    await service.create_from_sighting(sighting())
    good = await service.get((await assert_consistent(redis))[0].id)
    broken = codec.decode({**codec.encode(good), "id": new_report_id(), "history": "[]"})
    fields = codec.encode(broken) | {"created_ms": "yesterday"}

    store = ReportStore(redis)
    events = await redis.xlen(keys.REPORT_EVENTS)
    with pytest.raises(ResponseError, match="created_ms must be a number"):
        await store._create(
            keys=[keys.report(broken.id)],
            args=[keys.REPORTS_PREFIX, "25", iso(good.updated), "100", *sum(fields.items(), ())],
        )
    with pytest.raises(ResponseError, match="bad conf_micros"):
        await store._update(
            keys=[keys.report(good.id)],
            args=[keys.REPORTS_PREFIX, iso(good.updated), "100", "conf_micros", "lots"],
        )

    assert [r.id for r in await assert_consistent(redis)] == [good.id]
    assert await redis.xlen(keys.REPORT_EVENTS) == events  # nor an event
    assert await service.get(good.id) == good


async def test_delete_removes_every_index_entry_the_stats_and_the_images(
    service: ReportsService, images: LocalImageStore, redis: Redis, background: Background
) -> None:
    first = await service.create_from_sighting(sighting(image=jpeg()))
    dup = await service.create_from_sighting(sighting(location=north_of(HERE, 3), image=jpeg()))
    assert dup.duplicate_of == first.report_id
    await background.run()
    assert len(list(images.root.iterdir())) == 4

    await service.delete(dup.report_id)
    assert (await service.get(first.report_id)).duplicates == ()
    await service.delete(first.report_id)
    await background.run()

    assert await assert_consistent(redis) == []
    assert sorted(p.name for p in images.root.iterdir()) == []
    # The event stream stays: it is the live feed's memory of what happened.
    assert {key async for key in redis.scan_iter(match="rh:*")} <= {
        keys.REPORT_STATS,
        keys.REPORT_EVENTS,
    }
    stats = await service.stats()
    assert stats.total == 0
    assert stats.mean_confidence is None


@pytest.fixture
async def aged(service: ReportsService, clock: Clock) -> list[str]:
    """Three reports, 400, 100 and 0 days old."""
    ids = []
    for age in (400, 100, 0):
        clock.now = START + timedelta(days=400 - age)
        ids.append((await service.create_from_sighting(sighting(location=None))).report_id)
    return ids


async def test_retention_purges_only_expired_reports(
    service: ReportsService, aged: list[str], redis: Redis
) -> None:
    assert await service.purge_expired() == 1
    assert await service.purge_expired() == 0
    assert sorted(r.id for r in await assert_consistent(redis)) == sorted(aged[1:])


async def test_retention_zero_keeps_everything(
    service: ReportsService, aged: list[str], redis: Redis
) -> None:
    service.retention_days = 0
    assert await service.purge_expired() == 0
    assert len(await assert_consistent(redis)) == 3


async def test_the_background_purge_runs_from_start(
    service: ReportsService, aged: list[str], redis: Redis
) -> None:
    service.purge_interval_s = 0.01

    async def purged() -> bool:
        return not await redis.exists(keys.report(aged[0]))

    service.start()
    try:
        await eventually(purged, poll_s=0.01)
    finally:
        await service.aclose()
    assert sorted(r.id for r in await assert_consistent(redis)) == sorted(aged[1:])


async def test_stats_are_kept_by_every_change(
    service: ReportsService, clock: Clock, redis: Redis
) -> None:
    a = await service.create_from_sighting(sighting(confidence=0.6))
    await service.create_from_sighting(sighting(confidence=0.8, location=north_of(HERE, 5)))
    clock.advance(hours=25)
    c = await service.create_from_sighting(
        sighting(confidence=0.4, location=None, hazard=resolve("D00"))
    )
    await service.act(a.report_id, Action.CONFIRM)
    await service.act(c.report_id, Action.DISMISS)

    stats = await service.stats()

    assert stats.total == 3
    assert stats.by_status == {"open": 1, "closed": 2}
    assert stats.by_state == {
        "new": 0,
        "confirmed": 1,
        "in_progress": 0,
        "fixed": 0,
        "dismissed": 1,
        "duplicate": 1,
    }
    assert stats.by_class == {"D40": 2, "D00": 1}
    assert stats.by_severity == {"high": 2, "low": 1}
    assert stats.last_24h == 1
    assert stats.mean_confidence == pytest.approx(0.6)
    await assert_consistent(redis)


async def test_create_many_files_each_report_as_create_does(
    service: ReportsService, redis: Redis
) -> None:
    existing = await service.create_from_sighting(sighting())
    stored = await service.store.get(existing.report_id)
    assert stored is not None
    fresh = [replace(stored, id=new_report_id()) for _ in range(3)]
    outcomes = await service.store.create_many(
        [*fresh, stored], dedupe_radius_m=0, now_iso=iso(START)
    )
    assert outcomes == [(True, None)] * 3 + [(False, None)]
    assert len(await assert_consistent(redis)) == 4
