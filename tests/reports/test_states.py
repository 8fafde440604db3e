"""The state machine: every action from every state, with timestamps, against real Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from roadhazard.errors import Conflict, NotFound
from roadhazard.reports.service import ReportsService, new_report_id
from roadhazard.reports.states import (
    OPEN_STATES,
    Action,
    ReportState,
    ReportStatus,
    status_of,
)
from tests.reports.conftest import HERE, Clock, assert_consistent, north_of, sighting

# The state machine, written out here rather than read from `TRANSITIONS`, so that a change to
# the table is a change this test sees: every (state, action) allowed, and where it leads.
# Everything else is refused; closed states are final.
ALLOWED: dict[tuple[ReportState, Action], ReportState] = {
    (ReportState.NEW, Action.CONFIRM): ReportState.CONFIRMED,
    (ReportState.NEW, Action.DISMISS): ReportState.DISMISSED,
    (ReportState.CONFIRMED, Action.START): ReportState.IN_PROGRESS,
    (ReportState.CONFIRMED, Action.DISMISS): ReportState.DISMISSED,
    (ReportState.IN_PROGRESS, Action.FIX): ReportState.FIXED,
    (ReportState.IN_PROGRESS, Action.DISMISS): ReportState.DISMISSED,
}

# How to bring a fresh report into each state through the public API.
PATHS: dict[ReportState, list[Action]] = {
    ReportState.NEW: [],
    ReportState.CONFIRMED: [Action.CONFIRM],
    ReportState.IN_PROGRESS: [Action.CONFIRM, Action.START],
    ReportState.FIXED: [Action.CONFIRM, Action.START, Action.FIX],
    ReportState.DISMISSED: [Action.DISMISS],
}


async def _report_in(service: ReportsService, state: ReportState, clock: Clock) -> str:
    if state is ReportState.DUPLICATE:
        first = await service.create_from_sighting(sighting(location=HERE))
        second = await service.create_from_sighting(sighting(location=north_of(HERE, 5)))
        assert second.duplicate_of == first.report_id
        return second.report_id
    outcome = await service.create_from_sighting(sighting(location=None))
    for action in PATHS[state]:
        clock.advance(minutes=1)
        await service.act(outcome.report_id, action)
    return outcome.report_id


def test_status_follows_state() -> None:
    assert {s for s in ReportState if status_of(s) is ReportStatus.OPEN} == OPEN_STATES
    assert {ReportState.NEW, ReportState.CONFIRMED, ReportState.IN_PROGRESS} == OPEN_STATES


@pytest.mark.parametrize("state", list(ReportState))
@pytest.mark.parametrize("action", list(Action))
async def test_every_action_from_every_state(
    service: ReportsService, clock: Clock, redis: Redis, state: ReportState, action: Action
) -> None:
    report_id = await _report_in(service, state, clock)
    before = await service.get(report_id)
    target = ALLOWED.get((state, action))
    clock.advance(minutes=5)

    if target is not None:
        after = await service.act(report_id, action)
        assert after.state is target
        assert after.history[-1].state is target
        assert after.history[-1].at == clock.now
        assert after.history[:-1] == before.history
        assert after.updated == clock.now
    else:
        with pytest.raises(Conflict, match=f"state '{state.value}'"):
            await service.act(report_id, action)
        assert await service.get(report_id) == before
    await assert_consistent(redis)


async def test_the_whole_life_of_a_report_is_recorded(
    service: ReportsService, clock: Clock
) -> None:
    report_id = await _report_in(service, ReportState.FIXED, clock)
    report = await service.get(report_id)

    assert [(t.state, t.at.minute) for t in report.history] == [
        (ReportState.NEW, 0),
        (ReportState.CONFIRMED, 1),
        (ReportState.IN_PROGRESS, 2),
        (ReportState.FIXED, 3),
    ]
    assert report.status is ReportStatus.CLOSED


async def test_acting_on_a_missing_report_is_not_found(service: ReportsService) -> None:
    with pytest.raises(NotFound):
        await service.act(new_report_id(), Action.CONFIRM)
    with pytest.raises(NotFound):
        await service.act("not-a-ulid", Action.CONFIRM)
