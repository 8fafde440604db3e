"""Sessions and their tracks in Redis: one hash per session, per-class indexes of its tracks.

Each write that must not interleave with another frame's is one Lua script (see scripts.py);
reads are plain commands. Every key carries the session's TTL, refreshed by each frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis

from roadhazard.errors import Conflict, NotFound
from roadhazard.sessions import keys, scripts

# A frame's claims only matter while its own detections are being tracked.
CLAIMS_TTL_S = 60
# The contract's image-space rule, for detections without GPS.
MATCH_IOU = 0.3
MATCH_CENTRE_GAP = 0.1

_HAZARD_FIELD = "hazards:"


@dataclass(frozen=True)
class SessionRecord:
    """A session as stored: what it was opened with, and its counters so far."""

    id: str
    source: str
    device: str
    state: str
    started_at: datetime
    ended_at: datetime | None
    last_activity_at: datetime
    frames: int
    detections: int
    hazards: int
    hazards_by_class: dict[str, int]
    first_frame_at: datetime | None
    last_frame_at: datetime | None
    conf: float | None
    iou: float | None
    track_window_s: float
    track_radius_m: float
    # The key id of the reporter that opened it; None when no key did (open access).
    owner: str | None = None

    @property
    def capture_s(self) -> float:
        """Capture time from the first frame to the last; 0 before two frames."""
        if self.first_frame_at is None or self.last_frame_at is None:
            return 0.0
        return (self.last_frame_at - self.first_frame_at).total_seconds()


@dataclass(frozen=True)
class NewSession:
    id: str
    source: str
    device: str
    started_at: datetime
    conf: float | None
    iou: float | None
    track_window_s: float
    track_radius_m: float
    owner: str | None = None


@dataclass(frozen=True)
class Observation:
    """One detection to track. `box` is (x1, y1, x2, y2) as fractions of the image."""

    proposed_id: str
    captured_at: datetime
    confidence: float
    box: tuple[float, float, float, float]
    width: int
    height: int
    position: tuple[float, float] | None  # (lat, lon)
    class_key: str
    class_label: str


@dataclass(frozen=True)
class TrackDecision:
    """`pending`: the track's report is not known to be written yet (see `mark_reported`)."""

    report_id: str
    is_new: bool
    improved: bool
    pending: bool


@dataclass(frozen=True)
class FrameContext:
    session: SessionRecord | None
    class_keys: frozenset[str]
    stored_answer: str | None


def _ts(moment: datetime) -> str:
    return repr(moment.timestamp())


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _optional_float(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)


def _record(session_id: str, meta: Mapping[str, str]) -> SessionRecord:
    started = _time(meta["started_at"])
    assert started is not None
    return SessionRecord(
        id=session_id,
        source=meta["source"],
        device=meta["device"],
        state=meta["state"],
        started_at=started,
        ended_at=_time(meta.get("ended_at")),
        last_activity_at=_time(meta.get("last_activity")) or started,
        frames=int(meta.get("frames", 0)),
        detections=int(meta.get("detections", 0)),
        hazards=int(meta.get("hazards", 0)),
        hazards_by_class={
            name.removeprefix(_HAZARD_FIELD): int(count)
            for name, count in sorted(meta.items())
            if name.startswith(_HAZARD_FIELD)
        },
        first_frame_at=_time(meta.get("first_frame")),
        last_frame_at=_time(meta.get("last_frame")),
        conf=_optional_float(meta.get("conf")),
        iou=_optional_float(meta.get("iou")),
        track_window_s=float(meta["track_window_s"]),
        track_radius_m=float(meta["track_radius_m"]),
        owner=meta.get("owner") or None,
    )


def session_not_found(session_id: str) -> NotFound:
    """The one answer for a session that is not there, or not the caller's to see: the two
    must read the same, so that ids cannot be probed."""
    return NotFound(f"No session {session_id}; it never existed or expired after inactivity.")


def _raise_for(status: str, session_id: str) -> None:
    if status == "missing":
        raise session_not_found(session_id)
    if status in ("ended", "already"):
        raise Conflict(f"Session {session_id} has ended; start a new session to send frames.")


class SessionStore:
    def __init__(self, redis: Redis, *, ttl_s: int, retry_ttl_s: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        # Nothing of a session may outlive the session itself.
        self._retry_ttl_s = min(retry_ttl_s, ttl_s)
        self._claims_ttl_s = min(CLAIMS_TTL_S, ttl_s)
        self._track = scripts.TRACK.registered_on(redis)
        self._finish = scripts.FINISH_FRAME.registered_on(redis)
        self._end = scripts.END.registered_on(redis)

    async def create(self, session: NewSession) -> None:
        key = keys.session_meta(session.id)
        started = _ts(session.started_at)
        fields: dict[str, str | int] = {
            "source": session.source,
            "device": session.device,
            "state": "active",
            "started_at": started,
            "last_activity": started,
            "frames": 0,
            "detections": 0,
            "hazards": 0,
            "conf": "" if session.conf is None else repr(session.conf),
            "iou": "" if session.iou is None else repr(session.iou),
            "track_window_s": repr(session.track_window_s),
            "track_radius_m": repr(session.track_radius_m),
            "owner": session.owner or "",
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, items=[part for pair in fields.items() for part in pair])
            pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def get(self, session_id: str) -> SessionRecord:
        meta = cast(dict[str, str], await self._redis.hgetall(keys.session_meta(session_id)))
        if not meta:
            _raise_for("missing", session_id)
        return _record(session_id, meta)

    async def frame_context(self, session_id: str, retry_key: str) -> FrameContext:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.session_meta(session_id))
            pipe.smembers(keys.session_classes(session_id))
            pipe.get(keys.session_idempotency(session_id, retry_key))
            meta, class_keys, answer = await pipe.execute()
        return FrameContext(
            session=_record(session_id, meta) if meta else None,
            class_keys=frozenset(class_keys),
            stored_answer=answer,
        )

    async def track(
        self,
        session_id: str,
        frame_id: str,
        observation: Observation,
        *,
        window_s: float,
        radius_m: float,
    ) -> TrackDecision:
        """Joins the observation to its track or opens one, in one atomic step."""
        lat, lon = observation.position if observation.position else (0.0, 0.0)
        reply: list[Any] = await self._track(
            keys=[
                keys.session_meta(session_id),
                keys.session_tracks(session_id),
                keys.session_track_geo(session_id, observation.class_key),
                keys.session_track_recent(session_id, observation.class_key),
                keys.session_frame_claims(session_id, frame_id),
                keys.session_reported(session_id),
                keys.session_classes(session_id),
            ],
            args=[
                observation.proposed_id,
                _ts(observation.captured_at),
                repr(window_s),
                repr(observation.confidence),
                *(repr(v) for v in observation.box),
                observation.width,
                observation.height,
                "1" if observation.position else "0",
                repr(lon),
                repr(lat),
                repr(radius_m),
                self._ttl_s,
                self._claims_ttl_s,
                observation.class_label,
                observation.class_key,
                repr(MATCH_IOU),
                repr(MATCH_CENTRE_GAP),
            ],
        )
        _raise_for(str(reply[0]), session_id)
        return TrackDecision(
            report_id=str(reply[1]),
            is_new=bool(int(reply[2])),
            improved=bool(int(reply[3])),
            pending=bool(int(reply[4])),
        )

    async def mark_reported(self, session_id: str, report_id: str) -> None:
        key = keys.session_reported(session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, report_id)
            pipe.expire(key, self._ttl_s)
            await pipe.execute()

    async def finish_frame(
        self,
        session_id: str,
        retry_key: str,
        class_keys: frozenset[str],
        *,
        captured_at: datetime,
        detections: int,
        answer: str,
        now: datetime,
    ) -> bool:
        """Counts the frame unless a retry of it was counted already; True when counted."""
        status = await self._finish(
            keys=[
                keys.session_meta(session_id),
                keys.session_idempotency(session_id, retry_key),
                *self._other_keys(session_id, class_keys),
            ],
            args=[
                _ts(captured_at),
                detections,
                self._ttl_s,
                self._retry_ttl_s,
                answer,
                _ts(now),
            ],
        )
        _raise_for(str(status), session_id)
        return str(status) == "counted"

    async def end(self, session_id: str, *, now: datetime) -> SessionRecord:
        members = cast(set[str], await self._redis.smembers(keys.session_classes(session_id)))
        class_keys = frozenset(members)
        status = await self._end(
            keys=[keys.session_meta(session_id), *self._other_keys(session_id, class_keys)],
            args=[_ts(now), self._ttl_s],
        )
        if str(status) == "missing":
            _raise_for("missing", session_id)
        return await self.get(session_id)

    def _other_keys(self, session_id: str, class_keys: frozenset[str]) -> list[str]:
        """Every key of the session but its meta and its short-lived retry and claim keys."""
        found = [
            keys.session_tracks(session_id),
            keys.session_classes(session_id),
            keys.session_reported(session_id),
        ]
        for class_key in sorted(class_keys):
            found.append(keys.session_track_geo(session_id, class_key))
            found.append(keys.session_track_recent(session_id, class_key))
        return found
