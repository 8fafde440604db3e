"""The report state machine, as data: which action moves which states where."""

from __future__ import annotations

from enum import StrEnum


class ReportState(StrEnum):
    NEW = "new"
    CONFIRMED = "confirmed"
    IN_PROGRESS = "in_progress"
    FIXED = "fixed"
    DISMISSED = "dismissed"
    DUPLICATE = "duplicate"


class ReportStatus(StrEnum):
    """Open311's coarse status: a hazard someone still has to act on, or not."""

    OPEN = "open"
    CLOSED = "closed"


class Action(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    START = "start"
    FIX = "fix"


OPEN_STATES = frozenset({ReportState.NEW, ReportState.CONFIRMED, ReportState.IN_PROGRESS})

ACTION_TARGET: dict[Action, ReportState] = {
    Action.CONFIRM: ReportState.CONFIRMED,
    Action.DISMISS: ReportState.DISMISSED,
    Action.START: ReportState.IN_PROGRESS,
    Action.FIX: ReportState.FIXED,
}

# Closed states are final: a hazard that reappears is a new sighting, hence a new report.
# `duplicate` is only ever set by de-duplication when a report is created.
TRANSITIONS: dict[ReportState, frozenset[ReportState]] = {
    ReportState.NEW: frozenset({ReportState.CONFIRMED, ReportState.DISMISSED}),
    ReportState.CONFIRMED: frozenset({ReportState.IN_PROGRESS, ReportState.DISMISSED}),
    ReportState.IN_PROGRESS: frozenset({ReportState.FIXED, ReportState.DISMISSED}),
    ReportState.FIXED: frozenset(),
    ReportState.DISMISSED: frozenset(),
    ReportState.DUPLICATE: frozenset(),
}


def status_of(state: ReportState) -> ReportStatus:
    return ReportStatus.OPEN if state in OPEN_STATES else ReportStatus.CLOSED


def sources_of(target: ReportState) -> list[ReportState]:
    """The states a report may be in for a move to `target`; the script checks against them."""
    return sorted(source for source, targets in TRANSITIONS.items() if target in targets)
