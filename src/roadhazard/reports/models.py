"""The reports domain's inner records: the contract with sessions, and a stored report.

Plain dataclasses: the Pydantic models in schemas.py are the HTTP edge, these are what the
service, the store and the sessions domain pass around.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from roadhazard.detection.engine import Box
from roadhazard.geocoding.schemas import Address
from roadhazard.redis import keys
from roadhazard.reports.states import ReportState, ReportStatus, status_of
from roadhazard.taxonomy.schemas import HazardType, Severity


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
    image_types: dict[str, str] = field(default_factory=dict)
    image_status: dict[str, str] = field(default_factory=dict)
    address: Address | None = None
    address_status: str = ""
    address_query: str | None = None

    @classmethod
    def filed(
        cls,
        report_id: str,
        hazard: HazardType,
        now: datetime,
        *,
        severity: Severity | None,
        class_name: str | None,
        confidence: float | None,
        box: Box | None,
        location: GeoPoint | None,
        session_id: str | None,
        description: str | None,
        tags: tuple[str, ...],
        last_seen: datetime,
        background: dict[str, str],
    ) -> Report:
        """A report as it is first filed, whether a session's tracker or a person filed it."""
        code = hazard.code or hazard.model_name
        return cls(
            id=report_id,
            code=code,
            token=keys.class_token(code),
            service_name=hazard.label,
            state=ReportState.NEW,
            severity=severity,
            class_name=class_name,
            confidence=confidence,
            box=box,
            location=location,
            session_id=session_id,
            description=description,
            tags=tags,
            duplicate_of=None,
            duplicates=(),
            confirmations=0,
            created_ms=epoch_ms(now),
            requested=now,
            updated=now,
            last_seen=last_seen,
            history=(),
            image_types={
                kind: background[f"image_{kind}"]
                for kind in ("original", "annotated")
                if f"image_{kind}" in background
            },
            image_status={
                kind: background[f"image_{kind}_status"]
                for kind in ("original", "annotated")
                if f"image_{kind}_status" in background
            },
            address_status=background.get("address_status", ""),
            address_query=background.get("address_query"),
        )

    @property
    def status(self) -> ReportStatus:
        return status_of(self.state)

    def to_hash(self) -> dict[str, str]:
        """The fields the create script stores; it derives the state history itself."""
        location = self.location
        return {
            "id": self.id,
            "code": self.code,
            "token": self.token,
            "service_name": self.service_name,
            "state": self.state.value,
            "severity": self.severity.value if self.severity else "",
            "class_name": self.class_name or "",
            "confidence": _num(self.confidence),
            "conf_micros": micros(self.confidence),
            "box": box_json(self.box),
            "lat": _num(location.lat if location else None),
            "lon": _num(location.lon if location else None),
            "accuracy_m": _num(location.accuracy_m if location else None),
            "session_id": self.session_id or "",
            "description": self.description or "",
            "tags": json.dumps(list(self.tags)),
            "duplicate_of": "",
            "duplicates": "[]",
            "confirmations": "0",
            "created_ms": str(self.created_ms),
            "requested": iso(self.requested),
            "updated": iso(self.updated),
            "last_seen": iso(self.last_seen),
            "last_seen_ms": str(epoch_ms(self.last_seen)),
            "image_original": self.image_types.get("original", ""),
            "image_annotated": self.image_types.get("annotated", ""),
            "image_original_status": self.image_status.get("original", ""),
            "image_annotated_status": self.image_status.get("annotated", ""),
            "address": self.address.to_json() if self.address else "",
            "address_status": self.address_status,
            "address_query": self.address_query or "",
        }

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> Report:
        lat, lon = _opt_float(raw.get("lat", "")), _opt_float(raw.get("lon", ""))
        location = (
            GeoPoint(lat, lon, _opt_float(raw.get("accuracy_m", "")))
            if lat is not None and lon is not None
            else None
        )
        box = json.loads(raw["box"]) if raw.get("box") else None
        images = {
            kind: raw[f"image_{kind}"]
            for kind in ("original", "annotated")
            if raw.get(f"image_{kind}")
        }
        return cls(
            id=raw["id"],
            code=raw["code"],
            token=raw["token"],
            service_name=raw["service_name"],
            state=ReportState(raw["state"]),
            severity=Severity(raw["severity"]) if raw.get("severity") else None,
            class_name=raw.get("class_name") or None,
            confidence=_opt_float(raw.get("confidence", "")),
            box=Box(box["x1"], box["y1"], box["x2"], box["y2"]) if box else None,
            location=location,
            session_id=raw.get("session_id") or None,
            description=raw.get("description") or None,
            tags=tuple(_json_list(raw.get("tags"))),
            duplicate_of=raw.get("duplicate_of") or None,
            duplicates=tuple(_json_list(raw.get("duplicates"))),
            confirmations=int(raw.get("confirmations") or 0),
            created_ms=int(raw["created_ms"]),
            requested=parse_iso(raw["requested"]),
            updated=parse_iso(raw["updated"]),
            last_seen=parse_iso(raw["last_seen"]),
            history=tuple(
                Transition(ReportState(item["state"]), parse_iso(item["at"]))
                for item in _json_list(raw.get("history"))
            ),
            image_types=images,
            # Reports written before images had a status were stored synchronously.
            image_status={kind: raw.get(f"image_{kind}_status") or "stored" for kind in images},
            address=_address(raw.get("address")),
            address_status=raw.get("address_status", ""),
            address_query=raw.get("address_query") or None,
        )


def _address(raw: str | None) -> Address | None:
    if not raw:
        return None
    try:
        return Address.from_json(raw)
    except ValueError:
        return None


def _json_list(raw: str | None) -> list[Any]:
    # Lua's cjson writes an empty table as {}, so an emptied list may come back as an object.
    value = json.loads(raw) if raw else []
    return value if isinstance(value, list) else []


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _opt_float(raw: str) -> float | None:
    return float(raw) if raw else None


def micros(confidence: float | None) -> str:
    """Confidence in millionths: the stats add integers, which never drift like float sums."""
    return "" if confidence is None else str(round(confidence * 1_000_000))


def box_json(box: Box | None) -> str:
    if box is None:
        return ""
    return json.dumps({"x1": box.x1, "y1": box.y1, "x2": box.x2, "y2": box.y2})


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
