"""The Redis keys of scan coverage: one hash tag, `rh:{coverage}:...` (rules in
`roadhazard.redis.keys`).

A frame updates a session's passes, its track and the cells it lies in, in one script, so they
share a slot; it is another slot than the session's own keys, so recording coverage is a call of
its own. Cell keys depend on the position, so `lua/record.lua` builds them from COVERAGE_PREFIX:
`rh:{coverage}:cell:<geohash>` (the geohash's length is its precision).
"""

from __future__ import annotations

from roadhazard.redis.keys import PREFIX, key_part

COVERAGE_PREFIX = f"{PREFIX}{{coverage}}:"


def cell(geohash: str) -> str:
    """Hash: when the cell was last scanned (`last_ms`), its `passes` and recent `sessions`."""
    return f"{COVERAGE_PREFIX}cell:{key_part('geohash', geohash)}"


def session_passes(session_id: str) -> str:
    """Hash: a field per cell the session was in, holding the spans of its passes there."""
    return f"{COVERAGE_PREFIX}passes:{key_part('session id', session_id)}"


def session_track(session_id: str) -> str:
    """Sorted set: the session's GPS points, scored by capture time (ms)."""
    return f"{COVERAGE_PREFIX}track:{key_part('session id', session_id)}"
