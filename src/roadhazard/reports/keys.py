"""The Redis keys of reports, their indexes and their background jobs: all under the
`{reports}` hash tag, so one script or transaction may touch them all (rules in
`roadhazard.redis.keys`)."""

from __future__ import annotations

# Re-exported: callers name a report's prefix and its class indexes through this module.
from roadhazard.redis.keys import PREFIX as PREFIX
from roadhazard.redis.keys import class_token as class_token
from roadhazard.redis.keys import digest, key_part

# How long a replayed request still finds its first answer; a day covers any client's retries.
IDEMPOTENCY_TTL_S = 24 * 60 * 60

# Every report key shares the {reports} hash tag, so one script may touch them all. The report
# scripts (roadhazard/reports/lua/prelude.lua) build the per-value index names from this prefix,
# because which indexes a report belongs to is only known inside the script; the builders here
# spell the same names, and tests/reports/test_store.py and test_lua.py check that they agree.
REPORTS_PREFIX = f"{PREFIX}{{reports}}:"

REPORTS_BY_TIME = f"{REPORTS_PREFIX}by_time"
"""Sorted set: report id, scored by creation time (Unix milliseconds, UTC)."""

REPORT_STATS = f"{REPORTS_PREFIX}stats"
"""Hash: counters by class and by state."""


def report(report_id: str) -> str:
    """Hash: one hazard report."""
    return f"{REPORTS_PREFIX}report:{key_part('report id', report_id)}"


def reports_geo(class_name: str) -> str:
    """Geo set: the open reports of one hazard class, by position, for de-duplication."""
    return f"{REPORTS_PREFIX}geo:{key_part('class name', class_name)}"


def report_idempotency(caller: str, client_key: str) -> str:
    """String: the report id created by a request with this Idempotency-Key from this caller.

    The caller is part of the key, so two callers that pick the same key (a counter, a date)
    never get each other's answers."""
    return f"{REPORTS_PREFIX}idem:{digest(caller + chr(0) + client_key)}"


REPORT_EVENTS = f"{REPORTS_PREFIX}events"
"""Stream: what happened to reports (created, updated, de-duplicated), for the live feed. The
report scripts add to it in the step that changes the report, trimmed to about
ROADHAZARD_EVENTS_MAX_LEN entries (MAXLEN ~): bounded by its length rather than a TTL, since
it is the feed's memory of recent events, from which a client resumes (roadhazard.reports.events).
"""

REPORT_CELLS_VERSION = f"{REPORTS_PREFIX}cells_version"
"""String: the version of the map's cells (`report_cell`) once every report is counted in them;
absent or older, the service rebuilds them at start (roadhazard.reports.clusters)."""


def report_cell(precision: int, geohash: str) -> str:
    """Hash: the reports in one geohash cell: how many, their positions summed, counts by
    class, state and severity (the map's clusters; the scripts keep it, see lua/prelude.lua)."""
    return f"{REPORTS_PREFIX}cell:{precision}:{key_part('geohash', geohash)}"


def report_cell_combos(precision: int, geohash: str) -> str:
    """Hash: the same cell's reports per class|state|severity, for a map with filters."""
    return f"{REPORTS_PREFIX}cell_combos:{precision}:{key_part('geohash', geohash)}"


REPORTS_GEO_ALL = f"{REPORTS_PREFIX}geo_all"
"""Geo set: every report with a location, whatever its state, for the list's area filters."""


def reports_by_state(state: str) -> str:
    """Sorted set: the reports in one state, scored like `REPORTS_BY_TIME`."""
    return f"{REPORTS_PREFIX}state:{key_part('state', state)}"


def reports_by_status(status: str) -> str:
    """Sorted set: the open (or closed) reports, scored like `REPORTS_BY_TIME`."""
    return f"{REPORTS_PREFIX}status:{key_part('status', status)}"


def reports_by_class(class_name: str) -> str:
    """Sorted set: the reports of one hazard class, scored like `REPORTS_BY_TIME`."""
    return f"{REPORTS_PREFIX}class:{key_part('class name', class_name)}"


def reports_by_session(session_id: str) -> str:
    """Sorted set: the reports a driving session created, scored like `REPORTS_BY_TIME`."""
    return f"{REPORTS_PREFIX}session:{key_part('session id', session_id)}"


# Background work on reports (image uploads, geocoding) waits in durable queues beside the
# reports, in the same slot, so finishing a job and updating its report is one script.


def report_queue(queue: str) -> str:
    """Sorted set: the job ids of one queue, scored by when each is next due (Unix ms)."""
    return f"{REPORTS_PREFIX}queue:{key_part('queue', queue)}"


def report_job(queue: str, job_id: str) -> str:
    """Hash: one job of a queue (its payload, version and attempts). A job has no TTL: it is
    part of its report's pending state, and is removed when done or when the report goes."""
    return f"{REPORTS_PREFIX}job:{key_part('queue', queue)}:{key_part('job id', job_id)}"
