"""What GeoReport v2 says of our things: a hazard class as a service, a report as a service
request, a posted form as a manual report.

Pure functions of their arguments, safe to run in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roadhazard import __version__
from roadhazard.errors import NotFound, shown
from roadhazard.open311.schemas import (
    SPECIFICATION,
    CreatedOut,
    DiscoveryOut,
    EndpointOut,
    RequestOut,
    ServiceOut,
    ServiceRequestIn,
)
from roadhazard.reports.models import GeoPoint, ImageStatus, ManualReport, Report
from roadhazard.reports.schemas import image_url
from roadhazard.reports.states import ReportState, ReportStatus
from roadhazard.taxonomy import HazardClass, HazardType, load_taxonomy
from roadhazard.timeutil import iso

API_PATH = "/open311/v2"
# Every class is a road hazard: one group, which a city's list can file them under.
SERVICE_GROUP = "Road hazards"
FORMATS = ["text/xml", "application/json"]

_STATE_NOTES = {
    ReportState.NEW: "Reported",
    ReportState.CONFIRMED: "Confirmed",
    ReportState.IN_PROGRESS: "Work in progress",
    ReportState.FIXED: "Fixed",
    ReportState.DISMISSED: "Dismissed",
}


@dataclass(frozen=True)
class Deployment:
    """What a request's answers say of this deployment: its agency and this API's base URL
    (the request's own, so it names the host and scheme the client used, through a trusted
    proxy too)."""

    agency: str
    base_url: str  # without a trailing slash
    production: bool = False


def service_named(code: str) -> HazardClass:
    """The hazard class whose code is `code` exactly, as the service list gives it."""
    for hazard in load_taxonomy().hazards:
        if hazard.code == code:
            return hazard
    raise NotFound(f"There is no service {shown(code)!r}; services.json lists them.")


def service_of(hazard: HazardClass) -> ServiceOut:
    return ServiceOut(
        service_code=hazard.code,
        service_name=hazard.name,
        description=hazard.description,
        metadata=False,
        type="realtime",
        keywords=", ".join(hazard.aliases),
        group=SERVICE_GROUP,
    )


def request_of(report: Report, deployment: Deployment) -> dict[str, Any]:
    """The report as a service request (its JSON values)."""
    address = report.address
    location = report.location
    return RequestOut(
        service_request_id=report.id,
        status=report.status,
        status_notes=status_notes(report),
        service_name=report.service_name,
        service_code=report.code,
        description=report.description,
        agency_responsible=deployment.agency,
        service_notice=None,
        requested_datetime=report.requested,
        updated_datetime=_updated(report),
        expected_datetime=None,
        address=address.display_name if address else report.address_query,
        address_id=None,
        zipcode=address.postcode if address else None,
        lat=location.lat if location else None,
        long=location.lon if location else None,
        media_url=_media_url(report, deployment.base_url),
    ).model_dump(mode="json")


def status_notes(report: Report) -> str:
    """The last state change, as a sentence: "Fixed at 2025-06-01T12:00:00.000Z.", and how
    often the hazard was reported again since."""
    entered = report.history[-1].at if report.history else report.requested
    if report.state is ReportState.DUPLICATE:
        what = f"Duplicate of request {report.duplicate_of}"
    else:
        what = _STATE_NOTES[report.state]
    notes = f"{what} at {iso(entered)}."
    if report.confirmations:
        times = "time" if report.confirmations == 1 else "times"
        notes += f" Reported {report.confirmations} more {times} since."
    return notes


def _updated(report: Report) -> datetime:
    # The specification: for a closed request, the date it was closed.
    if report.status is ReportStatus.CLOSED and report.history:
        return report.history[-1].at
    return report.updated


def _media_url(report: Report, base_url: str) -> str | None:
    for kind in ("original", "annotated"):
        usable = report.image_status.get(kind, ImageStatus.STORED) is not ImageStatus.FAILED
        if kind in report.image_types and usable:
            return base_url + image_url(report.id, kind)
    return None


def created_of(report_id: str, duplicate_of: str | None) -> dict[str, Any]:
    notice = (
        f"This hazard was already reported as request {duplicate_of}; this request was added to it."
        if duplicate_of
        else None
    )
    return CreatedOut(
        service_request_id=report_id, service_notice=notice, account_id=None
    ).model_dump(mode="json")


def discovery_of(deployment: Deployment) -> dict[str, Any]:
    return DiscoveryOut(
        changeset=__version__,
        contact="The operators of this Roadhazard deployment.",
        key_service="API keys with the reporter role come from this deployment's operators; "
        "send one as the api_key field, or in the X-API-Key header.",
        endpoints=[
            EndpointOut(
                specification=SPECIFICATION,
                url=deployment.base_url + API_PATH,
                changeset=__version__,
                type="production" if deployment.production else "test",
                formats=FORMATS,
            )
        ],
    ).model_dump(mode="json")


def manual_report(data: ServiceRequestIn, hazard: HazardClass) -> ManualReport:
    """A posted request as the reports service files it. Who sent it (names, email, phone,
    device, account) and a media_url are not kept."""
    location = (
        GeoPoint(data.lat, data.long) if data.lat is not None and data.long is not None else None
    )
    return ManualReport(
        hazard=HazardType(model_name=hazard.code, hazard=hazard),
        location=location,
        description=data.description,
        address=data.address_string,
    )
