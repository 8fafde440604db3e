"""Open311 GeoReport v2's shapes, field for field and in the specification's order (the XML
form writes them in this order too), and the form a new service request is posted as.

JSON follows the specification's Spark convention: a list where XML repeats an element inside
a container (`<services><service>…`), an object for a single element (`<discovery>`), and
null for a value that XML leaves empty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, model_validator

from roadhazard.inputs import Latitude, Longitude, NumbersTogether
from roadhazard.reports.states import ReportStatus
from roadhazard.taxonomy import load_taxonomy
from roadhazard.timeutil import iso

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_DESCRIPTION = 4000  # the specification's limit on a description

# ISO 8601 in UTC with milliseconds, 2025-06-01T12:00:00.000Z, as the rest of the API writes it.
Moment = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class ServiceOut(BaseModel):
    """One service request type: here, one hazard class of the taxonomy."""

    service_code: str = Field(examples=["D40"])
    service_name: str = Field(examples=["Pothole"])
    description: str
    metadata: bool = Field(description="Always false: no service asks for more fields.")
    type: Literal["realtime", "batch", "blackbox"] = Field(
        description="Always realtime: a posted request gets its id at once."
    )
    keywords: str = Field(description="Other names of the class, comma-separated.")
    group: str


class ServiceDefinitionOut(BaseModel):
    service_code: str
    attributes: list[dict[str, Any]] = Field(
        description="Always empty: no service asks for more fields (its metadata is false)."
    )


class RequestOut(BaseModel):
    """One service request: a report, as GeoReport v2 lists it."""

    service_request_id: str = Field(description="The report id (a ULID).")
    status: ReportStatus
    status_notes: str | None = Field(description="The report's last state change.")
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: Moment
    updated_datetime: Moment = Field(
        description="When the request last changed; for a closed one, when it was closed."
    )
    expected_datetime: Moment | None = Field(description="Always null: nothing is promised.")
    address: str | None
    address_id: str | None = Field(description="Always null: there is no address register.")
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None = Field(description="This API's URL of the report's image.")


class CreatedOut(BaseModel):
    """The answer to a posted request: its id at once (a realtime service, so no token)."""

    service_request_id: str
    service_notice: str | None = Field(
        description="Set when the hazard was already reported: this request was added to it."
    )
    account_id: str | None = Field(description="Always null: no accounts are kept.")


class EndpointOut(BaseModel):
    specification: str = Field(examples=[SPECIFICATION])
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class DiscoveryOut(BaseModel):
    changeset: str = Field(description="Changes with each release, as the service list may.")
    contact: str
    key_service: str
    endpoints: list[EndpointOut]


class ErrorOut(BaseModel):
    code: int = Field(description="The HTTP status.")
    description: str


# The POST form's rules, for the document (ServiceRequestIn checks them): lat and long go
# together, and a location is lat & long, or address_string.
POSITION = NumbersTogether(("lat", "long"))
FORM_RULES: dict[str, Any] = {
    **POSITION.form_rule(),
    "anyOf": [{"required": ["lat", "long"]}, {"required": ["address_string"]}],
}
# Free text a client may leave empty: empty is as if not sent, as the specification says of
# optional arguments. The others (the code and the location) must be valid when sent.
EMPTY_MEANS_ABSENT = frozenset(
    {
        "api_key",
        "jurisdiction_id",
        "address_id",
        "email",
        "device_id",
        "account_id",
        "first_name",
        "last_name",
        "phone",
        "description",
        "media_url",
    }
)


def _not_kept(description: str) -> str:
    return f"{description} Accepted and not kept: the service stores no personal data."


class ServiceRequestIn(BaseModel):
    """POST requests.{format}: form fields, as GeoReport v2 names them. Fields it does not name
    (`attribute[code]=value`, which only services with metadata ask for) are ignored."""

    model_config = ConfigDict(extra="ignore")

    api_key: str | None = Field(
        default=None,
        max_length=200,
        description="A key with the reporter role (or send it in X-API-Key).",
    )
    jurisdiction_id: str | None = Field(
        default=None, max_length=200, description="Ignored: this endpoint serves one."
    )
    service_code: str = Field(
        max_length=64,
        description="A service_code of the service list.",
        json_schema_extra={"enum": [hazard.code for hazard in load_taxonomy().hazards]},
    )
    lat: Latitude | None = None
    long: Longitude | None = None
    address_string: str | None = Field(
        default=None,
        min_length=3,
        max_length=300,
        description="Where the hazard is, as text; without lat & long it is geocoded.",
    )
    address_id: str | None = Field(
        default=None,
        max_length=200,
        description="Not supported (there is no address register): also send lat & long or "
        "address_string.",
    )
    email: str | None = Field(
        default=None, max_length=254, description=_not_kept("The reporter's email address.")
    )
    device_id: str | None = Field(
        default=None, max_length=200, description=_not_kept("The reporting device's id.")
    )
    account_id: str | None = Field(
        default=None, max_length=200, description=_not_kept("The reporter's account id.")
    )
    first_name: str | None = Field(
        default=None, max_length=100, description=_not_kept("The reporter's given name.")
    )
    last_name: str | None = Field(
        default=None, max_length=100, description=_not_kept("The reporter's family name.")
    )
    phone: str | None = Field(
        default=None, max_length=50, description=_not_kept("The reporter's phone number.")
    )
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    media_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Accepted and not kept: the service keeps only images it was sent itself.",
    )

    @model_validator(mode="after")
    def _located(self) -> ServiceRequestIn:
        if (self.lat is None) != (self.long is None):
            raise ValueError("give both lat and long, or neither")
        if self.lat is None and self.address_string is None:
            if self.address_id is not None:
                raise ValueError(
                    "address_id is not supported (there is no address register); "
                    "send lat and long, or address_string"
                )
            raise ValueError("a location is required: lat and long, or address_string")
        return self
