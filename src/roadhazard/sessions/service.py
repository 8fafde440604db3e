"""Driving sessions: each frame's detections are tracked, and each new track becomes a report.

A frame goes: session check -> detection (worker pool) -> one atomic tracking step per
detection -> the reports service, to create a hazard's report or give it a better frame.
Nothing here holds a lock across an await: the tracking script decides atomically, and the
report writes are idempotent on the report id the tracker handed out.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import structlog

from roadhazard.access.service import Principal, Role
from roadhazard.coverage.service import CoverageService, Scan, Track
from roadhazard.detection.engine import Detection
from roadhazard.detection.postprocess import Thresholds
from roadhazard.detection.schemas import BoxOut, ImageSizeOut
from roadhazard.detection.service import DetectionService
from roadhazard.errors import Conflict, NotFound, Unprocessable
from roadhazard.ids import is_ulid, new_ulid
from roadhazard.inputs import GEO_MAX_LAT
from roadhazard.redis.keys import class_token
from roadhazard.reports.service import GeoPoint, ReportsService, Sighting, new_report_id
from roadhazard.sessions.schemas import (
    FrameParams,
    FrameResponse,
    HazardRef,
    SessionCreate,
    SessionCreated,
    SessionState,
    SessionStats,
    SessionTracking,
    TrackedDetectionOut,
)
from roadhazard.sessions.store import (
    NewSession,
    Observation,
    SessionRecord,
    SessionStore,
    session_not_found,
)
from roadhazard.taxonomy.schemas import HazardType

log = structlog.get_logger(__name__)

# A camera clock a little ahead of ours is normal; one far ahead would stretch the stats.
MAX_CLOCK_AHEAD = timedelta(minutes=5)

Clock = Callable[[], datetime]


def new_session_id() -> str:
    """A ULID, like report ids: sessions sort by when they started."""
    return new_ulid()


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Frame:
    """One frame being tracked: what each of its detections needs."""

    session: SessionRecord
    frame_id: str
    image: bytes
    width: int
    height: int
    captured_at: datetime
    location: GeoPoint | None


@dataclass(frozen=True)
class TrackingDefaults:
    idle_ttl_s: int
    track_window_s: float
    track_radius_m: float


class SessionService:
    def __init__(
        self,
        *,
        store: SessionStore,
        detection: DetectionService,
        reports: ReportsService,
        coverage: CoverageService,
        defaults: TrackingDefaults,
        clock: Clock = _utc_now,
    ) -> None:
        self._store = store
        self._detection = detection
        self._reports = reports
        self._coverage = coverage
        self._defaults = defaults
        self._clock = clock

    async def start(self, request: SessionCreate, caller: Principal) -> SessionCreated:
        session_id = new_session_id()
        started = self._clock()
        await self._store.create(
            NewSession(
                id=session_id,
                source=request.source.value,
                device=request.device,
                started_at=started,
                conf=request.conf,
                iou=request.iou,
                track_window_s=request.track_window_s or self._defaults.track_window_s,
                track_radius_m=request.track_radius_m or self._defaults.track_radius_m,
                owner=caller.key_id,
            )
        )
        log.info("session_started", session_id=session_id, source=request.source.value)
        return SessionCreated(
            id=session_id,
            state=SessionState.ACTIVE,
            started_at=started,
            idle_ttl_s=self._defaults.idle_ttl_s,
        )

    async def stats(self, session_id: str, caller: Principal) -> SessionStats:
        record = await self._store.get(_checked_id(session_id))
        return self._stats(_visible_to(caller, record))

    async def track(self, session_id: str, caller: Principal) -> Track:
        """The session's GPS track, thinned for display."""
        _visible_to(caller, await self._store.get(_checked_id(session_id)))
        return await self._coverage.track(session_id)

    async def end(self, session_id: str, caller: Principal) -> SessionStats:
        _visible_to(caller, await self._store.get(_checked_id(session_id)))
        record = await self._store.end(session_id, now=self._clock())
        log.info("session_ended", session_id=session_id, frames=record.frames)
        return self._stats(record)

    async def process_frame(
        self, session_id: str, image: bytes, params: FrameParams, caller: Principal
    ) -> FrameResponse:
        _checked_id(session_id)
        now = self._clock()
        captured_at = (params.captured_at or now).astimezone(UTC)
        if captured_at > now + MAX_CLOCK_AHEAD:
            raise Unprocessable(
                "captured_at is in the future; check the device clock and its timezone.",
                errors=[{"loc": ["body", "captured_at"], "msg": "more than 5 minutes ahead"}],
            )
        # A retry is the same picture taken at the same instant; anything else is a new frame.
        digest = await asyncio.to_thread(_sha256, image)  # up to MAX_IMAGE_BYTES: off the loop
        retry_key = f"frame:{captured_at.isoformat()}:{digest}"
        context = await self._store.frame_context(session_id, retry_key)
        if context.session is None:
            raise session_not_found(session_id)
        session = _visible_to(caller, context.session)
        if session.state != SessionState.ACTIVE:
            raise Conflict(f"Session {session_id} has ended; start a new session.")
        if context.stored_answer is not None:
            stored = FrameResponse.model_validate_json(context.stored_answer)
            return stored.model_copy(update={"replayed": True})

        result = await self._detection.detect(image, self._thresholds(session))
        frame = _Frame(
            session=session,
            frame_id=uuid.uuid4().hex,
            image=image,
            width=result.width,
            height=result.height,
            captured_at=captured_at,
            location=_location(params),
        )
        class_keys = set(context.class_keys)
        tracked: list[TrackedDetectionOut] = []
        # Most confident first: when two detections compete for one track, the surer one wins.
        for detection in sorted(result.detections, key=lambda d: -d.confidence):
            out, class_key = await self._track(frame, detection)
            tracked.append(out)
            class_keys.add(class_key)
        if frame.location is not None:
            # One more round trip, to the coverage slot; idempotent, so a retried frame is safe.
            await self._coverage.record(_scan(frame, params.heading), now=now)

        answer = FrameResponse(
            session_id=session_id,
            captured_at=captured_at,
            image=ImageSizeOut(width=result.width, height=result.height),
            detections=tracked,
        )
        await self._store.finish_frame(
            session_id,
            retry_key,
            frozenset(class_keys),
            captured_at=captured_at,
            detections=len(tracked),
            answer=answer.model_dump_json(),
            now=now,
        )
        return answer

    async def _track(self, frame: _Frame, detection: Detection) -> tuple[TrackedDetectionOut, str]:
        """Tracks one detection, then writes its report; returns it and its class key."""
        session_id = frame.session.id
        hazard = self._detection.hazard_for(detection.class_id)
        class_name = hazard.code or hazard.model_name
        class_key = class_token(class_name)
        location = frame.location
        decision = await self._store.track(
            session_id,
            frame.frame_id,
            Observation(
                proposed_id=new_report_id(),
                captured_at=frame.captured_at,
                confidence=detection.confidence,
                box=_fractions(detection, frame.width, frame.height),
                width=frame.width,
                height=frame.height,
                position=(location.lat, location.lon) if location else None,
                class_key=class_key,
                class_label=class_name,
            ),
            window_s=frame.session.track_window_s,
            radius_m=frame.session.track_radius_m,
        )
        created = await self._report(
            session_id,
            Sighting(
                report_id=decision.report_id,
                hazard=hazard,
                confidence=detection.confidence,
                box=detection.box,
                image=frame.image,
                location=location,
                seen_at=frame.captured_at,
                session_id=session_id,
            ),
            pending=decision.pending,
            improved=decision.improved,
        )
        return _tracked_out(detection, hazard, decision.report_id, created), class_key

    async def _report(
        self, session_id: str, sighting: Sighting, *, pending: bool, improved: bool
    ) -> bool:
        """Writes what the tracker decided; True when this sighting created the report.

        A track stays pending until its report is known to exist, so a create that failed
        (the request errored) is simply tried again by the track's next sighting.
        """
        if pending:
            outcome = await self._reports.create_from_sighting(sighting)
            await self._store.mark_reported(session_id, sighting.report_id)
            if outcome.created:
                return True
        if improved:
            await self._reports.record_sighting(
                sighting.report_id,
                confidence=sighting.confidence,
                box=sighting.box,
                image=sighting.image,
                seen_at=sighting.seen_at,
            )
        return False

    def _thresholds(self, session: SessionRecord) -> Thresholds:
        return self._detection.default_thresholds.overridden(conf=session.conf, iou=session.iou)

    def _stats(self, record: SessionRecord) -> SessionStats:
        """The record as stored, with its capture span and the thresholds its frames get."""
        thresholds = self._thresholds(record)
        effective = replace(record, conf=thresholds.conf, iou=thresholds.iou)
        return SessionStats.model_validate(
            {
                **vars(record),
                "duration_s": round(record.capture_s, 3),
                "settings": SessionTracking.model_validate(effective, from_attributes=True),
            }
        )


def _visible_to(caller: Principal, record: SessionRecord) -> SessionRecord:
    """The session, if the caller may use it: admins may use every session, a reporter only
    those it opened. Anyone else is told it does not exist, so session ids cannot be probed."""
    if caller.role is Role.ADMIN:
        return record
    if record.owner is None or record.owner != caller.key_id:
        raise session_not_found(record.id)
    return record


def _checked_id(session_id: str) -> str:
    # Anything that is not a ULID cannot name a session, and must never reach a Redis key.
    if not is_ulid(session_id):
        raise NotFound(f"No session {session_id[:64]!r}; session ids are 26-character ULIDs.")
    return session_id


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _location(params: FrameParams) -> GeoPoint | None:
    # Redis geo indexes stop short of the poles (Web Mercator); no road is beyond them anyway.
    if params.lat is None or params.lon is None or abs(params.lat) > GEO_MAX_LAT:
        return None
    return GeoPoint(lat=params.lat, lon=params.lon, accuracy_m=params.accuracy_m)


def _scan(frame: _Frame, heading: float | None) -> Scan:
    assert frame.location is not None
    return Scan(
        session_id=frame.session.id,
        lat=frame.location.lat,
        lon=frame.location.lon,
        heading=heading,
        captured_at=frame.captured_at,
    )


def _fractions(detection: Detection, width: int, height: int) -> tuple[float, float, float, float]:
    box = detection.box
    return (box.x1 / width, box.y1 / height, box.x2 / width, box.y2 / height)


def _tracked_out(
    detection: Detection, hazard: HazardType, report_id: str, created: bool
) -> TrackedDetectionOut:
    box = detection.box
    return TrackedDetectionOut(
        class_id=detection.class_id,
        class_name=detection.class_name,
        confidence=round(detection.confidence, 6),
        box=BoxOut(x1=box.x1, y1=box.y1, x2=box.x2, y2=box.y2),
        hazard=HazardRef(
            report_id=report_id,
            new=created,
            code=hazard.code,
            label=hazard.label,
            severity=hazard.severity.value if hazard.severity else None,
        ),
    )
