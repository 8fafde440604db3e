"""The reports API's shapes. Field names follow Open311 GeoReport v2 where it has one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from roadhazard.geocoding.schemas import AddressOut
from roadhazard.inputs import Latitude, Longitude, Number, NumbersTogether
from roadhazard.reports.models import ImageStatus, ImageUrls, Report
from roadhazard.reports.states import ReportState, ReportStatus
from roadhazard.taxonomy import load_taxonomy
from roadhazard.taxonomy.schemas import Severity

# A tag is a short label, kept as sent: 1 to 50 characters, no whitespace at either end, no
# comma (a form sends tags as "a,b"), no JSON brackets or quotes (so a structure flattened into
# a form field, "{}" or '["a"]', is refused rather than kept as a tag), no control characters.
_TAG_INNER = r'[^,{}\[\]"\\\x00-\x1f\x7f]'
_TAG_EDGE = r'[^\s,{}\[\]"\\\x00-\x1f\x7f]'
_TAG = f"{_TAG_EDGE}({_TAG_INNER}{{0,48}}{_TAG_EDGE})?"
TAG_PATTERN = f"^{_TAG}$"
Tag = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=TAG_PATTERN)]
MAX_TAGS = 20
# In a form the list is one text field, "pothole, school zone" (inputs.form_values splits it;
# spaces around a comma are ignored). Documented as a string with this pattern, not as an array:
# a form field cannot tell the string "a" from the list ["a"], so an array would call "a" a
# wrong type that the service cannot see.
TAGS_FORM_FIELD: dict[str, Any] = {
    "type": "string",
    "pattern": f"^ *{_TAG}( *, *{_TAG}){{0,{MAX_TAGS - 1}}} *$",
    "description": "Comma-separated tags, e.g. 'school zone, lane 2'.",
}
MAX_DESCRIPTION = 2000
LIST_LIMIT_MAX = 200


def image_url(report_id: str, kind: str) -> str:
    suffix = "" if kind == "original" else f"/{kind}"
    return f"/v1/reports/{report_id}/image{suffix}"


class BoxOut(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float


class DetectionOut(BaseModel):
    class_name: str = Field(description="The model's own class name.")
    confidence: float
    box: BoxOut = Field(description="In original image pixels.")


class ImageRef(BaseModel):
    url: str = Field(description="This API's URL of the image; it works in every status.")
    content_type: str
    status: Literal["pending", "stored", "failed"] = Field(
        description="pending: accepted, not yet in the image store (it is retried until it "
        "is); stored; failed: the image store refused the file."
    )
    delivery_url: str | None = Field(
        default=None, description="The image store's own URL (Cloudinary), once stored."
    )
    thumbnail_url: str | None = Field(
        default=None, description="A small rendition from the image store, once stored."
    )


class ImagesOut(BaseModel):
    original: ImageRef | None = None
    annotated: ImageRef | None = None


class TransitionOut(BaseModel):
    state: ReportState
    at: datetime


class ReportOut(BaseModel):
    service_request_id: str = Field(description="The report id (a ULID).")
    service_code: str = Field(description="Hazard class code, e.g. D40, or the model's name.")
    service_name: str
    status: ReportStatus
    state: ReportState
    lat: float | None
    long: float | None
    address: str | None = Field(
        default=None, description="The address found by geocoding; null until it is found."
    )
    address_details: AddressOut | None = None
    address_status: Literal["pending", "resolved", "not_found"] | None = Field(
        default=None,
        description="pending: geocoding is queued (retried while the geocoder is down).",
    )
    media_url: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    description: str | None
    tags: list[str]
    severity: Severity | None
    detection: DetectionOut | None
    session_id: str | None
    images: ImagesOut
    duplicate_of: str | None
    duplicates: list[str]
    confirmations: int = Field(description="Later reports de-duplicated into this one.")
    last_seen: datetime
    history: list[TransitionOut]

    @classmethod
    def from_report(cls, report: Report, image_urls: Mapping[str, ImageUrls]) -> ReportOut:
        """`image_urls`: the image store's own URLs of the report's stored images, by kind."""
        refs = {
            kind: _image_ref(report, kind, content_type, image_urls.get(kind))
            for kind, content_type in report.image_types.items()
        }
        media = refs.get("original") or refs.get("annotated")
        location = report.location
        address = report.address
        detected = report.class_name is not None and report.confidence is not None and report.box
        return cls.model_validate(
            {
                "service_request_id": report.id,
                "service_code": report.code,
                "service_name": report.service_name,
                "status": report.status,
                "state": report.state,
                "lat": location.lat if location else None,
                "long": location.lon if location else None,
                "address": address.display_name if address else None,
                "address_details": AddressOut.from_address(address) if address else None,
                "address_status": report.address_status.value if report.address_status else None,
                "media_url": (media.delivery_url or media.url) if media else None,
                "requested_datetime": report.requested,
                "updated_datetime": report.updated,
                "description": report.description,
                "tags": report.tags,
                "severity": report.severity,
                "detection": report if detected else None,
                "session_id": report.session_id,
                "images": refs,
                "duplicate_of": report.duplicate_of,
                "duplicates": report.duplicates,
                "confirmations": report.confirmations,
                "last_seen": report.last_seen,
                "history": report.history,
            },
            from_attributes=True,
        )


def _image_ref(report: Report, kind: str, content_type: str, urls: ImageUrls | None) -> ImageRef:
    status = report.image_status.get(kind, ImageStatus.STORED)
    return ImageRef(
        url=image_url(report.id, kind),
        content_type=content_type,
        status=status.value,
        delivery_url=urls.delivery if urls else None,
        thumbnail_url=urls.thumbnail if urls else None,
    )


class ReportListOut(BaseModel):
    reports: list[ReportOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: end.")


class ReportStatsOut(BaseModel):
    total: int
    by_status: dict[str, int]
    by_state: dict[str, int]
    by_class: dict[str, int]
    by_severity: dict[str, int]
    last_24h: int
    mean_confidence: float | None


# The document's version of ManualReportIn._both_coordinates.
POSITION = NumbersTogether(("lat", "lon"))


class ManualReportIn(BaseModel):
    """A report filed by hand, as JSON fields or form fields beside an optional `image`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=POSITION.json_rule())

    service_code: str = Field(
        min_length=1,
        max_length=64,
        description="A hazard code of the taxonomy; its names and aliases ('pothole') are "
        "accepted too.",
        examples=["D40"],
        json_schema_extra={"enum": [hazard.code for hazard in load_taxonomy().hazards]},
    )
    # Reports live in a Redis geo index, which ends at ±GEO_MAX_LAT.
    lat: Latitude | None = None
    lon: Longitude | None = None
    accuracy_m: Number | None = Field(default=None, ge=0, le=100_000)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    severity: Severity | None = None
    address: str | None = Field(
        default=None,
        min_length=3,
        max_length=300,
        description="Where the hazard is, as text, when there is no lat/lon: the position is "
        "then found by forward geocoding after the report is filed.",
    )

    @model_validator(mode="after")
    def _both_coordinates(self) -> ManualReportIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self


class ReportPatchIn(BaseModel):
    """Editable fields; the state changes only through the action endpoints."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    severity: Severity | None = None
