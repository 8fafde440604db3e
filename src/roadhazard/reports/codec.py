"""A report in Redis: the one place that knows its hash's field names and how each is written.

The store and the outbox use it; everything else passes the records of models.py around. The
Lua scripts (lua/*.lua) read and index the same fields by name: `id`, `state`, `code`, `token`,
`severity`, `session_id`, `lat`, `lon`, `conf_micros`, `created_ms`, `last_seen`/`last_seen_ms`,
`duplicate_of`, `duplicates`, `confirmations`, `requested` and `history`. The scripts alone write
`cells_v` (the report is counted in the map's cells, see lua/prelude.lua), which is not decoded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from roadhazard.detection.engine import Box
from roadhazard.geocoding.schemas import Address
from roadhazard.reports.models import (
    AddressSettled,
    AddressStatus,
    BestFrame,
    GeoPoint,
    ImageSettled,
    ImageStatus,
    PendingImages,
    RenderedAnswer,
    Report,
    ReportChange,
    ReportChanges,
    ReportStats,
    Transition,
)
from roadhazard.reports.states import ReportState, ReportStatus
from roadhazard.taxonomy.schemas import Severity
from roadhazard.timeutil import epoch_ms, iso, parse_iso

Fields = dict[str, str]

_IMAGE_KINDS = ("original", "annotated")


def encode(report: Report) -> Fields:
    """Every field of `report` (the create script writes its history itself)."""
    location = report.location
    return {
        "id": report.id,
        "code": report.code,
        "token": report.token,
        "service_name": report.service_name,
        "state": report.state.value,
        "severity": report.severity.value if report.severity else "",
        "class_name": report.class_name or "",
        "confidence": _num(report.confidence),
        "conf_micros": _micros(report.confidence),
        "box": _box(report.box),
        "lat": _num(location.lat if location else None),
        "lon": _num(location.lon if location else None),
        "accuracy_m": _num(location.accuracy_m if location else None),
        "session_id": report.session_id or "",
        "description": report.description or "",
        "tags": json.dumps(list(report.tags)),
        "duplicate_of": report.duplicate_of or "",
        "duplicates": json.dumps(list(report.duplicates)),
        "confirmations": str(report.confirmations),
        "created_ms": str(report.created_ms),
        "requested": iso(report.requested),
        "updated": iso(report.updated),
        "last_seen": iso(report.last_seen),
        "last_seen_ms": str(epoch_ms(report.last_seen)),
        "history": json.dumps([{"state": t.state.value, "at": iso(t.at)} for t in report.history]),
        **{f"image_{kind}": report.image_types.get(kind, "") for kind in _IMAGE_KINDS},
        **{
            _image_status(kind): status.value if (status := report.image_status.get(kind)) else ""
            for kind in _IMAGE_KINDS
        },
        "address": report.address.to_json() if report.address else "",
        "address_status": report.address_status.value if report.address_status else "",
        "address_query": report.address_query or "",
    }


def decode(raw: Mapping[str, str]) -> Report:
    box = json.loads(raw["box"]) if raw.get("box") else None
    images = {kind: raw[f"image_{kind}"] for kind in _IMAGE_KINDS if raw.get(f"image_{kind}")}
    return Report(
        id=raw["id"],
        code=raw["code"],
        token=raw["token"],
        service_name=raw["service_name"],
        state=ReportState(raw["state"]),
        severity=Severity(raw["severity"]) if raw.get("severity") else None,
        class_name=raw.get("class_name") or None,
        confidence=_opt_float(raw.get("confidence", "")),
        box=Box(box["x1"], box["y1"], box["x2"], box["y2"]) if box else None,
        location=_location(raw),
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
        image_status={kind: _status_of_image(raw.get(_image_status(kind))) for kind in images},
        address=_address(raw.get("address")),
        address_status=_status_of_address(raw.get("address_status")),
        address_query=raw.get("address_query") or None,
    )


def change_fields(change: ReportChange) -> Fields:
    """The fields one change sets (the update and job-done scripts keep indexes in step)."""
    match change:
        case ReportChanges():
            return _edited(change)
        case BestFrame():
            return {
                "confidence": _num(change.confidence),
                "conf_micros": _micros(change.confidence),
                "box": _box(change.box),
                "last_seen": iso(change.seen_at),
                "last_seen_ms": str(epoch_ms(change.seen_at)),
                **_pending(change.images),
            }
        case ImageSettled():
            return {_image_status(change.kind): change.status.value}
        case AddressSettled():
            return _address_fields(change)


def stats(counters: Mapping[str, str], last_24h: int) -> ReportStats:
    """The counters the scripts keep (`stats` hash), grouped by what they count."""
    values = {name: int(value) for name, value in counters.items()}

    def group(prefix: str, names: list[str] | None = None) -> dict[str, int]:
        found = {
            name.removeprefix(prefix): value
            for name, value in values.items()
            if name.startswith(prefix) and value
        }
        return {name: found.get(name, 0) for name in names} if names else found

    samples = values.get("conf_n", 0)
    return ReportStats(
        total=values.get("total", 0),
        by_status=group("status:", [s.value for s in ReportStatus]),
        by_state=group("state:", [s.value for s in ReportState]),
        by_class=group("class:"),
        by_severity=group("severity:"),
        last_24h=last_24h,
        mean_confidence=(
            round(values.get("conf_micros", 0) / samples / 1_000_000, 6) if samples else None
        ),
    )


def encode_answer(report: Report) -> str:
    """The report an Idempotency-Key's first request answered with, for its replays."""
    return json.dumps(encode(report), separators=(",", ":"))


def decode_answer(status: str, raw: str) -> Report | RenderedAnswer:
    """A stored answer: the report's fields, or the rendered body an older release kept.

    Raises ValueError when `raw` is neither.
    """
    try:
        fields = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError("an idempotency answer that is not JSON") from exc
    if not isinstance(fields, dict):
        raise ValueError("an idempotency answer that is not an object")
    if "token" not in fields and isinstance(fields.get("service_request_id"), str):
        # Before this codec the record held the HTTP answer itself (a ReportOut and its status).
        return RenderedAnswer(int(status), raw, fields["service_request_id"])
    try:
        return decode(fields)
    except (KeyError, TypeError) as exc:
        raise ValueError("an idempotency answer without a report's fields") from exc


def _edited(changes: ReportChanges) -> Fields:
    fields: Fields = {}
    if "description" in changes.fields_set:
        fields["description"] = changes.description or ""
    if "tags" in changes.fields_set:
        fields["tags"] = json.dumps(list(changes.tags))
    if "severity" in changes.fields_set:
        fields["severity"] = changes.severity.value if changes.severity else ""
    return fields


def _pending(images: PendingImages) -> Fields:
    fields: Fields = {}
    for kind, content_type in images.content_types.items():
        fields[f"image_{kind}"] = content_type
        fields[_image_status(kind)] = ImageStatus.PENDING.value
    return fields


def _address_fields(settled: AddressSettled) -> Fields:
    if settled.status is None:
        return {"address_status": ""}
    position = settled.position
    return {
        **({"lat": _num(position.lat), "lon": _num(position.lon)} if position else {}),
        "address": settled.address.to_json() if settled.address else "",
        "address_status": settled.status.value,
    }


def _image_status(kind: str) -> str:
    return f"image_{kind}_status"


def _status_of_image(raw: str | None) -> ImageStatus:
    try:
        return ImageStatus(raw or ImageStatus.STORED)
    except ValueError:
        return ImageStatus.STORED


def _status_of_address(raw: str | None) -> AddressStatus | None:
    try:
        return AddressStatus(raw) if raw else None
    except ValueError:
        return None


def _location(raw: Mapping[str, str]) -> GeoPoint | None:
    lat, lon = _opt_float(raw.get("lat", "")), _opt_float(raw.get("lon", ""))
    if lat is None or lon is None:
        return None
    return GeoPoint(lat, lon, _opt_float(raw.get("accuracy_m", "")))


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


def _micros(confidence: float | None) -> str:
    """Confidence in millionths: the stats add integers, which never drift like float sums."""
    return "" if confidence is None else str(round(confidence * 1_000_000))


def _box(box: Box | None) -> str:
    if box is None:
        return ""
    return json.dumps({"x1": box.x1, "y1": box.y1, "x2": box.x2, "y2": box.y2})
