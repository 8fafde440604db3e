"""The Redis keys of driving sessions: one hash tag per session, `rh:{session:<id>}:...`, so a
session's keys share a cluster slot and sessions spread across the cluster (rules in
`roadhazard.redis.keys`)."""

from __future__ import annotations

from roadhazard.redis.keys import PREFIX, digest, key_part


def session_meta(session_id: str) -> str:
    """Hash: the session's state (started, last seen, device, last position)."""
    return f"{PREFIX}{{session:{key_part('session id', session_id)}}}:meta"


def session_tracks(session_id: str) -> str:
    """Hash: the session's open tracks, updated with its meta in one transaction."""
    return f"{PREFIX}{{session:{key_part('session id', session_id)}}}:tracks"


def session_idempotency(session_id: str, client_key: str) -> str:
    """String: the stored answer to a frame upload with this Idempotency-Key."""
    return f"{PREFIX}{{session:{key_part('session id', session_id)}}}:idem:{digest(client_key)}"


def session_track_geo(session_id: str, class_key: str) -> str:
    """Geo set: the session's tracks of one class (a `class_token`), at their mean position."""
    tag = key_part("session id", session_id)
    return f"{PREFIX}{{session:{tag}}}:geo:{key_part('class key', class_key)}"


def session_track_recent(session_id: str, class_key: str) -> str:
    """Sorted set: the session's tracks of one class, scored by last sighting (capture time)."""
    tag = key_part("session id", session_id)
    return f"{PREFIX}{{session:{tag}}}:recent:{key_part('class key', class_key)}"


def session_classes(session_id: str) -> str:
    """Set: the class keys the session has tracks of, so every per-class key gets its TTL."""
    return f"{PREFIX}{{session:{key_part('session id', session_id)}}}:classes"


def session_reported(session_id: str) -> str:
    """Set: the session's tracks whose report is known to be written."""
    return f"{PREFIX}{{session:{key_part('session id', session_id)}}}:reported"


def session_frame_claims(session_id: str, frame_id: str) -> str:
    """Set: the tracks one frame's detections matched; one track takes one detection a frame."""
    tag = key_part("session id", session_id)
    return f"{PREFIX}{{session:{tag}}}:frame:{key_part('frame id', frame_id)}"
