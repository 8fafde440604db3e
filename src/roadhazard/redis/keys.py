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


# Reports

REPORTS_BY_TIME = f"{PREFIX}{{reports}}:by_time"
"""Sorted set: report id, scored by creation time (Unix seconds, UTC)."""

REPORT_STATS = f"{PREFIX}{{reports}}:stats"
"""Hash: counters by class and by state."""


def report(report_id: str) -> str:
    """Hash: one hazard report."""
    return f"{PREFIX}{{reports}}:report:{_checked('report id', report_id)}"


def reports_geo(class_name: str) -> str:
    """Geo set: the open reports of one hazard class, by position, for de-duplication."""
    return f"{PREFIX}{{reports}}:geo:{_checked('class name', class_name)}"


def report_idempotency(client_key: str) -> str:
    """String: the report id created by a request with this Idempotency-Key."""
    return f"{PREFIX}{{reports}}:idem:{_digest(client_key)}"
