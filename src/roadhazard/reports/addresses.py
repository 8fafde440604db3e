"""A report's address, found after the report is stored, never while a client waits.

Filing a report stages a job: reverse geocoding for a report with a position, forward
geocoding for a manual report that gave only an address. The worker runs it through the
geocoding service; while the geocoder is slow or down the address stays empty (`pending`)
and the job is retried, until the address is written onto the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from roadhazard.geocoding.schemas import Address, Place
from roadhazard.reports.models import AddressSettled, AddressStatus, GeoPoint
from roadhazard.reports.outbox import Job, Outbox
from roadhazard.reports.store import ReportStore
from roadhazard.reports.worker import wall_ms, without_report

log = structlog.get_logger(__name__)

GEOCODE_QUEUE = "geocode"


class Geocoder(Protocol):
    """What the reports domain needs of roadhazard.geocoding.service.GeocodingService."""

    async def reverse(self, lat: float, lon: float) -> Address | None: ...

    async def forward(self, query: str, *, limit: int = 5) -> list[Place]: ...


@dataclass
class ReportAddresses:
    outbox: Outbox

    async def stage(
        self,
        report_id: str,
        *,
        location: GeoPoint | None,
        query: str | None,
        now_ms: int,
    ) -> AddressStatus | None:
        """Queues the lookup the report needs; returns its address status (None: no lookup)."""
        if location is not None:
            job = {"op": "reverse", "report_id": report_id}
        elif query:
            job = {"op": "forward", "report_id": report_id, "query": query}
        else:
            return None
        await self.outbox.stage(report_id, job, now_ms=now_ms)
        return AddressStatus.PENDING

    async def cancel(self, report_id: str) -> None:
        await self.outbox.remove(report_id)


@dataclass
class AddressJobs:
    """The worker's handler for the geocode queue."""

    geocoder: Geocoder
    reports: ReportStore
    clock_ms: Callable[[], int] = wall_ms

    async def handle(self, job: Job) -> AddressSettled | None:
        report = await self.reports.get(job.fields["report_id"])
        if report is None:
            without_report(job, self.clock_ms())
            return None
        if job.fields.get("op") == "forward":
            return await self._forward(job.fields.get("query", ""))
        if report.location is None:
            return AddressSettled(None)
        # GeocoderUnavailable propagates: the worker retries after its Retry-After.
        address = await self.geocoder.reverse(report.location.lat, report.location.lon)
        return _settled(address)

    async def _forward(self, query: str) -> AddressSettled:
        places = await self.geocoder.forward(query, limit=1)
        if not places:
            log.info("report_address_not_found")
            return _settled(None)
        place = places[0]
        address = place.address or _bare_address(place)
        return AddressSettled(AddressStatus.RESOLVED, address, GeoPoint(place.lat, place.lon))


def _settled(address: Address | None) -> AddressSettled:
    if address is None:
        return AddressSettled(AddressStatus.NOT_FOUND)
    return AddressSettled(AddressStatus.RESOLVED, address)


def _bare_address(place: Place) -> Address:
    return Address(
        display_name=place.display_name,
        road=None,
        house_number=None,
        suburb=None,
        city=None,
        county=None,
        state=None,
        postcode=None,
        country=None,
        country_code=None,
        source="nominatim",
    )
