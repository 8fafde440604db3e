"""Reports written straight through the store's create script (`ReportStore.create_many`), for
tests that need many of them, or fields no endpoint sets (an address, a session)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from roadhazard.detection.engine import Box
from roadhazard.geocoding.schemas import Address
from roadhazard.ids import new_ulid
from roadhazard.reports import keys
from roadhazard.reports.models import AddressStatus, GeoPoint, Report
from roadhazard.reports.states import ReportState
from roadhazard.reports.store import ReportStore
from roadhazard.taxonomy import load_taxonomy
from roadhazard.taxonomy.schemas import Severity
from roadhazard.timeutil import epoch_ms, iso

SEEDED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def seeded_report(
    n: int,
    *,
    code: str = "D40",
    state: ReportState = ReportState.NEW,
    location: GeoPoint | None = GeoPoint(52.37, 4.89),
    description: str | None = None,
    tags: tuple[str, ...] = (),
    address: str | None = None,
) -> Report:
    """The `n`th report: created `n` seconds after SEEDED_AT, so `n` orders them."""
    hazard = next(h for h in load_taxonomy().hazards if h.code == code)
    created = SEEDED_AT + timedelta(seconds=n)
    return Report(
        id=new_ulid(now_ms=epoch_ms(created)),
        code=code,
        token=keys.class_token(code),
        service_name=hazard.name,
        state=state,
        severity=Severity.HIGH,
        class_name=code,
        confidence=0.75,
        box=Box(10, 10, 40, 30),
        location=location,
        session_id=None,
        description=description,
        tags=tags,
        duplicate_of=None,
        duplicates=(),
        confirmations=0,
        created_ms=epoch_ms(created),
        requested=created,
        updated=created,
        last_seen=created,
        history=(),
        address=_address(address) if address else None,
        address_status=AddressStatus.RESOLVED if address else None,
    )


def _address(display_name: str) -> Address:
    return Address(
        display_name=display_name,
        road=None,
        house_number=None,
        suburb=None,
        city="Amsterdam",
        county=None,
        state=None,
        postcode="1012",
        country=None,
        country_code="NL",
        source="offline",
    )


async def seed(store: ReportStore, reports: list[Report], batch: int = 1000) -> None:
    """Writes `reports` (no de-duplication), `batch` to a pipeline."""
    for start in range(0, len(reports), batch):
        chunk = reports[start : start + batch]
        outcomes = await store.create_many(chunk, dedupe_radius_m=0, now_iso=iso(SEEDED_AT))
        assert all(created for created, _ in outcomes)
