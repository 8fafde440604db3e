"""The reports domain's inner records: the contract with sessions, and a stored report.

Plain dataclasses: the Pydantic models in schemas.py are the HTTP edge, these are what the
service, the store and the sessions domain pass around. How they are written into Redis is
codec.py's business alone.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from roadhazard.detection.engine import Box
from roadhazard.geocoding.schemas import Address
from roadhazard.reports import keys
from roadhazard.reports.states import ReportState, ReportStatus, status_of
from roadhazard.taxonomy.schemas import HazardType, Severity
from roadhazard.timeutil import epoch_ms


class ImageStatus(enum.StrEnum):
    PENDING = "pending"
    STORED = "stored"
    FAILED = "failed"


class AddressStatus(enum.StrEnum):
    PENDING = "pending"
    RESOLVED = "resolved"
    NOT_FOUND = "not_found"  # the geocoder knows no address there (or for that text)


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class Sighting:
    report_id: str
    hazard: HazardType
    confidence: float
    box: Box
    image: bytes | None
    location: GeoPoint | None
    seen_at: datetime
    session_id: str | None
    description: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportOutcome:
    report_id: str
    created: bool
    duplicate_of: str | None


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's Idempotency-Key and who sent it (`client_identity`: the API key's id, else
    the client's address); a key is only ever matched against the same caller's requests."""

    caller: str
    value: str

    def redis_key(self) -> str:
        return keys.report_idempotency(self.caller, self.value)


@dataclass(frozen=True)
class RenderedAnswer:
    """An Idempotency-Key's answer as the release before codec.py stored it: the HTTP status
    and the JSON body it rendered then, replayed byte for byte (such records live a day)."""

    status: int
    body: str
    report_id: str


@dataclass(frozen=True)
class ManualReport:
    """A report someone filed by hand: no detection, an image only if they sent one."""

    hazard: HazardType
    location: GeoPoint | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    severity: Severity | None = None
    image: bytes | None = None
    address: str | None = None

    def fingerprint(self) -> str:
        """What makes two requests "the same" for an Idempotency-Key."""
        location = self.location
        canonical = {
            "code": self.hazard.code or self.hazard.model_name,
            "location": [location.lat, location.lon, location.accuracy_m] if location else None,
            "description": self.description,
            "tags": list(self.tags),
            "severity": self.severity.value if self.severity else None,
            "image": hashlib.sha256(self.image).hexdigest() if self.image is not None else None,
            "address": self.address,
        }
        encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()


@dataclass(frozen=True)
class ReportChanges:
    """A PATCH: only the names in `fields_set` change; None clears description or severity."""

    fields_set: frozenset[str]
    description: str | None = None
    tags: tuple[str, ...] = ()
    severity: Severity | None = None


@dataclass(frozen=True)
class ReportStats:
    total: int
    by_status: dict[str, int]
    by_state: dict[str, int]
    by_class: dict[str, int]
    by_severity: dict[str, int]
    last_24h: int
    mean_confidence: float | None


@dataclass(frozen=True)
class Transition:
    state: ReportState
    at: datetime


@dataclass(frozen=True)
class Report:
    """One report as stored: a Redis hash of strings, one field per attribute."""

    id: str
    code: str
    token: str
    service_name: str
    state: ReportState
    severity: Severity | None
    class_name: str | None
    confidence: float | None
    box: Box | None
    location: GeoPoint | None
    session_id: str | None
    description: str | None
    tags: tuple[str, ...]
    duplicate_of: str | None
    duplicates: tuple[str, ...]
    confirmations: int
    created_ms: int
    requested: datetime
    updated: datetime
    last_seen: datetime
    history: tuple[Transition, ...]
    # Each image's content type and whether the image store has it yet, by kind.
    image_types: dict[str, str] = field(default_factory=dict)
    image_status: dict[str, ImageStatus] = field(default_factory=dict)
    address: Address | None = None
    address_status: AddressStatus | None = None
    address_query: str | None = None

    @classmethod
    def filed(cls, draft: FiledReport, now: datetime, background: Background) -> Report:
        """A report as it is first filed, whether a session's tracker or a person filed it."""
        hazard = draft.hazard
        code = hazard.code or hazard.model_name
        return cls(
            id=draft.report_id,
            code=code,
            token=keys.class_token(code),
            service_name=hazard.label,
            state=ReportState.NEW,
            severity=draft.severity,
            class_name=draft.class_name,
            confidence=draft.confidence,
            box=draft.box,
            location=draft.location,
            session_id=draft.session_id,
            description=draft.description,
            tags=draft.tags,
            duplicate_of=None,
            duplicates=(),
            confirmations=0,
            created_ms=epoch_ms(now),
            requested=now,
            updated=now,
            last_seen=draft.last_seen or now,
            history=(),
            image_types=dict(background.images.content_types),
            image_status={kind: ImageStatus.PENDING for kind in background.images.content_types},
            address_status=background.address_status,
            address_query=background.address_query,
        )

    @property
    def status(self) -> ReportStatus:
        return status_of(self.state)


@dataclass(frozen=True)
class FiledReport:
    """What is known of a report before it is written: from a sighting or a manual report."""

    report_id: str
    hazard: HazardType
    severity: Severity | None
    location: GeoPoint | None
    description: str | None
    tags: tuple[str, ...]
    class_name: str | None = None
    confidence: float | None = None
    box: Box | None = None
    session_id: str | None = None
    last_seen: datetime | None = None  # None: when it is filed


# Background work: what staging it says of a report, and what finishing it writes.


@dataclass(frozen=True)
class PendingImages:
    """Images staged for the image store, by kind, with their content types."""

    content_types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Background:
    """A report's background work as it is filed: its images and its address lookup."""

    images: PendingImages = field(default_factory=PendingImages)
    address_status: AddressStatus | None = None  # PENDING when a lookup is queued
    address_query: str | None = None


@dataclass(frozen=True)
class BestFrame:
    """A better frame of a tracked hazard: it replaces the report's detection and images."""

    confidence: float
    box: Box
    seen_at: datetime
    images: PendingImages


@dataclass(frozen=True)
class ImageSettled:
    """An image job's end: the store took the image, or refused it for good."""

    kind: str
    status: ImageStatus


@dataclass(frozen=True)
class AddressSettled:
    """An address job's end. `status` None: nothing to look up (the report has no position);
    `position`: where forward geocoding put an address given as text."""

    status: AddressStatus | None
    address: Address | None = None
    position: GeoPoint | None = None


# Every change of a report's fields, besides its state: one of these goes to the store.
ReportChange = ReportChanges | BestFrame | ImageSettled | AddressSettled


@dataclass(frozen=True)
class ImageUrls:
    """The image store's own URLs of a stored image (Cloudinary); None where it has none."""

    delivery: str | None
    thumbnail: str | None
