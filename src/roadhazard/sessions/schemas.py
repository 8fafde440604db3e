"""The sessions API's contract: opening a session, sending frames, reading its stats."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from roadhazard.detection.schemas import BoxOut, ImageSizeOut
from roadhazard.inputs import Latitude, Longitude, Number, NumbersTogether, UtcDatetime

DEVICE_MAX_LENGTH = 128
# The document's version of _position_is_whole.
POSITION = NumbersTogether(("lat", "lon"), needing_them=("accuracy_m",))


class SessionSource(enum.StrEnum):
    DASHCAM = "dashcam"
    MOBILE = "mobile"
    STAFF = "staff"


class SessionState(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class SessionCreate(BaseModel):
    """Opens a driving session; thresholds and tracking overrides hold for all its frames."""

    model_config = ConfigDict(extra="forbid")

    source: SessionSource
    device: str = Field(
        min_length=1,
        max_length=DEVICE_MAX_LENGTH,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Free text naming the camera or phone, e.g. 'Nextbase 622GW, van 12'.",
    )
    conf: Number | None = Field(default=None, ge=0.0, le=1.0, description="Minimum confidence.")
    iou: Number | None = Field(default=None, ge=0.0, le=1.0, description="NMS IoU threshold.")
    track_window_s: Number | None = Field(
        default=None, gt=0, le=600, description="Longest gap, in capture time, within a track."
    )
    track_radius_m: Number | None = Field(
        default=None, gt=0, le=500, description="How far apart two GPS sightings may match."
    )


class FrameParams(BaseModel):
    """A frame's metadata, sent as form fields beside the image or as JSON keys."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=POSITION.json_rule())

    # Tracks live in a Redis geo index, which ends at ±GEO_MAX_LAT.
    lat: Latitude | None = None
    lon: Longitude | None = None
    accuracy_m: Number | None = Field(default=None, ge=0.0, description="GPS accuracy, metres.")
    heading: Number | None = Field(default=None, ge=0.0, le=360.0, description="Degrees from N.")
    speed: Number | None = Field(default=None, ge=0.0, description="Metres per second.")
    captured_at: UtcDatetime | None = Field(
        default=None,
        description="ISO 8601 with a timezone (Z or an offset); default: when it arrives.",
    )

    @model_validator(mode="after")
    def _position_is_whole(self) -> FrameParams:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be sent together")
        if self.accuracy_m is not None and self.lat is None:
            raise ValueError("accuracy_m needs lat and lon")
        return self


class SessionCreated(BaseModel):
    id: str = Field(description="The session id, a ULID.")
    state: SessionState
    started_at: datetime
    idle_ttl_s: int = Field(description="The session expires after this long without a frame.")


class HazardRef(BaseModel):
    report_id: str = Field(description="The hazard report this detection belongs to.")
    new: bool = Field(description="True for the one detection that created the report.")
    code: str | None = Field(description="The taxonomy code, or null for an unmapped class.")
    label: str
    severity: str | None


class TrackedDetectionOut(BaseModel):
    class_id: int
    class_name: str
    confidence: float
    box: BoxOut
    hazard: HazardRef


class FrameResponse(BaseModel):
    session_id: str
    captured_at: datetime
    image: ImageSizeOut
    detections: list[TrackedDetectionOut]
    replayed: bool = Field(
        default=False, description="True when this answers a retry of a frame already counted."
    )


class SessionTracking(BaseModel):
    conf: float
    iou: float
    track_window_s: float
    track_radius_m: float


class SessionStats(BaseModel):
    id: str
    source: str
    device: str
    state: SessionState
    started_at: datetime
    ended_at: datetime | None
    last_activity_at: datetime
    frames: int
    detections: int
    hazards: int
    hazards_by_class: dict[str, int] = Field(
        description="New hazards by taxonomy code (the model's class name when unmapped)."
    )
    first_frame_at: datetime | None
    last_frame_at: datetime | None
    duration_s: float = Field(description="Capture time from the first to the last frame.")
    settings: SessionTracking
