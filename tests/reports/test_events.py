"""The event stream the report scripts write: one event per change a watcher can see, written
by the script that makes the change (no event for a refused or missing change), trimmed to its
length."""

from __future__ import annotations

from datetime import timedelta

import pytest
from redis.asyncio import Redis

from roadhazard.detection.engine import Box
from roadhazard.errors import Conflict
from roadhazard.reports import keys
from roadhazard.reports.events import EventId, ReportEvent, ReportEventLog
from roadhazard.reports.models import ManualReport, ReportChanges
from roadhazard.reports.service import ReportsService
from roadhazard.reports.states import Action
from roadhazard.reports.store import ReportStore
from roadhazard.taxonomy import resolve
from roadhazard.timeutil import iso
from tests.factories import jpeg
from tests.reports.conftest import HERE, START, Background, Clock, north_of, sighting
from tests.reports.seeding import seed, seeded_report

BEGINNING = EventId(0, 0)


async def _events(redis: Redis, after: EventId = BEGINNING) -> list[ReportEvent]:
    return await ReportEventLog(redis).after(after, 1000)


async def test_filing_a_report_and_its_duplicate_are_events(
    service: ReportsService, redis: Redis, clock: Clock
) -> None:
    first = await service.create_from_sighting(sighting(confidence=0.6))
    clock.advance(seconds=1)
    again = await service.create_from_sighting(sighting(location=north_of(HERE, 3)))
    # A retried creation changes nothing: no event.
    await service.create_from_sighting(sighting(report_id=first.report_id))

    created, duplicate = await _events(redis)
    assert created.type == "report.created"
    assert (created.report_id, created.code, created.state) == (first.report_id, "D40", "new")
    assert created.location is not None
    assert (created.location.lat, created.location.lon) == (HERE.lat, HERE.lon)
    assert created.at == iso(START)
    assert duplicate.type == "report.duplicate"
    assert (duplicate.report_id, duplicate.state) == (again.report_id, "duplicate")
    assert duplicate.duplicate_of == first.report_id
    assert duplicate.at == iso(START + timedelta(seconds=1))
    assert created.id < duplicate.id


async def test_state_changes_edits_and_better_frames_are_update_events(
    service: ReportsService, redis: Redis
) -> None:
    filed = await service.create_from_sighting(sighting(confidence=0.5))
    seen = await _events(redis)
    await service.act(filed.report_id, Action.CONFIRM)
    await service.update(
        filed.report_id, ReportChanges(frozenset({"description"}), description="deep")
    )
    await service.record_sighting(
        filed.report_id, confidence=0.9, box=Box(1, 1, 9, 9), image=None, seen_at=START
    )
    # Not better, so not recorded: no event.
    await service.record_sighting(
        filed.report_id, confidence=0.2, box=Box(1, 1, 9, 9), image=None, seen_at=START
    )

    state, details, frame = await _events(redis, seen[-1].id)
    assert {e.type for e in (state, details, frame)} == {"report.updated"}
    assert (state.changes, state.previous_state, state.state) == (("state",), "new", "confirmed")
    assert details.changes == ("details",)
    assert frame.changes == ("best_frame",)
    assert frame.state == "confirmed"


async def test_refused_moves_and_deletions_are_no_events(
    service: ReportsService, redis: Redis
) -> None:
    filed = await service.create_from_sighting(sighting())
    await service.act(filed.report_id, Action.DISMISS)
    before = await redis.xlen(keys.REPORT_EVENTS)
    for action in (Action.DISMISS, Action.CONFIRM):  # dismissed already; cannot be confirmed
        with pytest.raises(Conflict):
            await service.act(filed.report_id, action)
    await service.delete(filed.report_id)
    assert await redis.xlen(keys.REPORT_EVENTS) == before


async def test_an_image_stored_and_an_address_found_are_update_events(
    service: ReportsService, redis: Redis, background: Background
) -> None:
    await service.create_manual(
        ManualReport(hazard=resolve("D40"), location=HERE, image=jpeg()), idempotency_key=None
    )
    seen = await _events(redis)
    await background.run()

    changes = sorted(c for e in await _events(redis, seen[-1].id) for c in e.changes)
    assert changes == ["address", "image"]


async def test_the_stream_keeps_about_its_length(redis: Redis) -> None:
    store = ReportStore(redis, events_max_len=100)
    await seed(store, [seeded_report(n) for n in range(1000)], batch=250)
    # MAXLEN ~ trims whole nodes of the stream (100 entries each by default): never below the
    # length, and not much above.
    assert 100 <= await redis.xlen(keys.REPORT_EVENTS) <= 300
