"""Every Redis key the service uses is built here, and only here.

All keys start with `rh:`, so a Redis shared with other software can be scanned and cleaned by
prefix. Names are `rh:{<hash tag>}:<part>...`.

Redis Cluster: a cluster stores a key by the hash of its `{...}` tag alone, and a MULTI/EXEC,
WATCH or Lua script may only touch keys in one slot. So keys that change together share a tag:

- one driving session: `rh:{session:<id>}:meta`, `...:tracks`, `...:idem:<hash>`; sessions
  spread across the cluster;
- reports and every index over them: `rh:{reports}:...`; creating, linking or resolving a
  report updates the report, the time index, a geo index and the stats in one transaction.
  All reports thus live in one slot (one shard), which suits a city's hazards; should that
  outgrow a shard, the tag would become a region (e.g. `{reports:<geohash prefix>}`).

Work that spans a session and a report (a new detection that becomes a report) is two
transactions, each idempotent, not one: that keeps the layout valid on a cluster.

Time to live: everything except a report and its indexes and stats expires; the TTLs are set by
the services that write the keys (see `IDEMPOTENCY_TTL_S`).
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "rh:"

# How long a replayed request still finds its first answer; a day covers any client's retries.
IDEMPOTENCY_TTL_S = 24 * 60 * 60

# Ids and class names go into keys verbatim: no braces (they would move the hash tag), no colons
# (they would let one id spell another key), no spaces or control characters.
_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def _checked(kind: str, value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(f"{kind} {value!r} cannot be part of a Redis key")
    return value


def _digest(client_key: str) -> str:
    """Client-chosen keys are hashed: any text is accepted and the key length stays bounded."""
    return hashlib.sha256(client_key.encode("utf-8")).hexdigest()


# Sessions


def session_meta(session_id: str) -> str:
    """Hash: the session's state (started, last seen, device, last position)."""
    return f"{PREFIX}{{session:{_checked('session id', session_id)}}}:meta"


def session_tracks(session_id: str) -> str:
    """Hash: the session's open tracks, updated with its meta in one transaction."""
    return f"{PREFIX}{{session:{_checked('session id', session_id)}}}:tracks"


def session_idempotency(session_id: str, client_key: str) -> str:
    """String: the stored answer to a frame upload with this Idempotency-Key."""
    return f"{PREFIX}{{session:{_checked('session id', session_id)}}}:idem:{_digest(client_key)}"


def session_track_geo(session_id: str, class_key: str) -> str:
    """Geo set: the session's tracks of one class (a `class_token`), at their mean position."""
    tag = _checked("session id", session_id)
    return f"{PREFIX}{{session:{tag}}}:geo:{_checked('class key', class_key)}"


def session_track_recent(session_id: str, class_key: str) -> str:
    """Sorted set: the session's tracks of one class, scored by last sighting (capture time)."""
    tag = _checked("session id", session_id)
    return f"{PREFIX}{{session:{tag}}}:recent:{_checked('class key', class_key)}"


def session_classes(session_id: str) -> str:
    """Set: the class keys the session has tracks of, so every per-class key gets its TTL."""
    return f"{PREFIX}{{session:{_checked('session id', session_id)}}}:classes"


def session_reported(session_id: str) -> str:
    """Set: the session's tracks whose report is known to be written."""
    return f"{PREFIX}{{session:{_checked('session id', session_id)}}}:reported"


def session_frame_claims(session_id: str, frame_id: str) -> str:
    """Set: the tracks one frame's detections matched; one track takes one detection a frame."""
    tag = _checked("session id", session_id)
    return f"{PREFIX}{{session:{tag}}}:frame:{_checked('frame id', frame_id)}"


# Reports

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
    return f"{REPORTS_PREFIX}report:{_checked('report id', report_id)}"


def reports_geo(class_name: str) -> str:
    """Geo set: the open reports of one hazard class, by position, for de-duplication."""
    return f"{REPORTS_PREFIX}geo:{_checked('class name', class_name)}"


def report_idempotency(caller: str, client_key: str) -> str:
    """String: the report id created by a request with this Idempotency-Key from this caller.

    The caller is part of the key, so two callers that pick the same key (a counter, a date)
    never get each other's answers."""
    return f"{REPORTS_PREFIX}idem:{_digest(caller + chr(0) + client_key)}"


REPORTS_GEO_ALL = f"{REPORTS_PREFIX}geo_all"
"""Geo set: every report with a location, whatever its state, for the list's area filters."""

_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def class_token(class_name: str) -> str:
    """The key-safe form of a hazard class: a code as is, any other model name as a digest."""
    if _SAFE_TOKEN.fullmatch(class_name):
        return class_name
    return "x-" + _digest(class_name)[:24]


def reports_by_state(state: str) -> str:
    """Sorted set: the reports in one state, scored like `REPORTS_BY_TIME`."""
    return f"{REPORTS_PREFIX}state:{_checked('state', state)}"


def reports_by_status(status: str) -> str:
    """Sorted set: the open (or closed) reports, scored like `REPORTS_BY_TIME`."""
    return f"{REPORTS_PREFIX}status:{_checked('status', status)}"


def reports_by_class(class_name: str) -> str:
    """Sorted set: the reports of one hazard class, scored like `REPORTS_BY_TIME`."""
    return f"{REPORTS_PREFIX}class:{_checked('class name', class_name)}"


def reports_by_session(session_id: str) -> str:
    """Sorted set: the reports a driving session created, scored like `REPORTS_BY_TIME`."""
    return f"{REPORTS_PREFIX}session:{_checked('session id', session_id)}"


# Background work on reports (image uploads, geocoding) waits in durable queues beside the
# reports, in the same slot, so finishing a job and updating its report is one script.


def report_queue(queue: str) -> str:
    """Sorted set: the job ids of one queue, scored by when each is next due (Unix ms)."""
    return f"{REPORTS_PREFIX}queue:{_checked('queue', queue)}"


def report_job(queue: str, job_id: str) -> str:
    """Hash: one job of a queue (its payload, version and attempts). A job has no TTL: it is
    part of its report's pending state, and is removed when done or when the report goes."""
    return f"{REPORTS_PREFIX}job:{_checked('queue', queue)}:{_checked('job id', job_id)}"


# Rate limits


def rate_limit_counter(group: str, identity: str) -> str:
    """Hash: one client's request counts in one rate-limit group, this window's and the last.

    Each client and group is its own hash tag, so clients spread across a cluster. The identity
    (an API key's id or a client IP) is hashed: an IP address has no business in a key name.
    """
    return f"{PREFIX}{{rl:{_checked('rate limit group', group)}:{_digest(identity)}}}"


# Geocoding

GEOCODER_NEXT_SLOT = f"{PREFIX}geocoder:next_slot"
"""String: when (Redis server time, Unix ms) the next request to the online geocoder may go.
Shared by every worker, so together they keep the provider's rate limit; its TTL ends as soon
as the slot lies in the past, when it no longer holds anything."""


def _coordinate(value: float) -> str:
    # 4 decimals is about 11 m; `+ 0.0` turns -0.0 into 0.0, so both spell one key.
    return f"{round(value, 4) + 0.0:.4f}"


def geocode_reverse(lat: float, lon: float, language: str | None) -> str:
    """String: the cached address (JSON, or `null` for "no address here") near a point.

    Points within the same 4-decimal cell share it; the language is part of the key because
    the provider answers in it. TTL: `geocoder_cache_ttl_s` (shorter for `null`)."""
    lang = _digest(language or "")[:16]
    return f"{PREFIX}geocode:reverse:{lang}:{_coordinate(lat)}:{_coordinate(lon)}"


def geocode_forward(normalized_query: str, limit: int, language: str | None) -> str:
    """String: the cached places (a JSON list) for a normalized search text, limit and language.
    TTL: `geocoder_cache_ttl_s` (shorter for an empty list)."""
    parts = "\n".join((str(limit), language or "", normalized_query))
    return f"{PREFIX}geocode:search:{_digest(parts)}"
