"""The reports domain's API: what sessions, the router and the lifespan call.

`new_report_id`, `GeoPoint`, `Sighting`, `ReportOutcome`, `create_from_sighting` and
`record_sighting` are the contract of docs/design/sessions-and-reports.md.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from roadhazard.detection.engine import Box
from roadhazard.errors import Conflict, NotFound, RoadhazardError, Unprocessable, shown
from roadhazard.media.service import IMAGE_KINDS, ImageKind, inspect_image
from roadhazard.observability import metrics
from roadhazard.reports.addresses import ReportAddresses
from roadhazard.reports.ids import is_report_id, new_report_id
from roadhazard.reports.images import ImageSource, ImageStatus, PreparedImage, ReportImages
from roadhazard.reports.listing import ReportPage, ReportQuery, list_reports
from roadhazard.reports.models import (
    GeoPoint,
    IdempotencyKey,
    ManualReport,
    Report,
    ReportChanges,
    ReportOutcome,
    ReportStats,
    Sighting,
    box_json,
    epoch_ms,
    iso,
    micros,
)
from roadhazard.reports.periodic import Periodic
from roadhazard.reports.states import (
    ACTION_TARGET,
    Action,
    ReportState,
    ReportStatus,
    sources_of,
)
from roadhazard.reports.store import ReportStore
from roadhazard.taxonomy.schemas import HazardType

__all__ = [
    "GeoPoint",
    "ManualReport",
    "ReportChanges",
    "ReportOutcome",
    "ReportStats",
    "ReportsService",
    "Sighting",
    "new_report_id",
]

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]

# How long a request may hold an Idempotency-Key before a retry may take the work over.
IDEMPOTENCY_LEASE_MS = 30_000
PURGE_BATCH = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


def _no_wake() -> None:
    return None


@dataclass
class ReportsService:
    store: ReportStore
    images: ReportImages
    addresses: ReportAddresses
    dedupe_radius_m: float = 25.0
    retention_days: int = 365
    max_image_pixels: int = 50_000_000
    clock: Clock = utc_now
    # Called once background work is staged, so this process's workers start on it at once.
    on_staged: Callable[[], None] = _no_wake
    purge_interval_s: float = 3600.0
    _retention: Periodic | None = field(default=None, init=False, repr=False)

    # Sessions' contract

    async def create_from_sighting(self, sighting: Sighting) -> ReportOutcome:
        report_id = _checked_id(sighting.report_id)
        existing = await self.store.get(report_id)
        if existing is not None:
            return ReportOutcome(report_id, False, existing.duplicate_of)
        now = self.clock()
        hazard = sighting.hazard
        prepared = await self.images.prepare_frame(
            report_id,
            sighting.image,
            label=hazard.label,
            code=_code(hazard),
            confidence=sighting.confidence,
            box=sighting.box,
        )
        background = await self._stage(report_id, prepared, sighting.location, None)
        report = Report.filed(
            report_id,
            hazard,
            now,
            severity=hazard.severity,
            class_name=hazard.model_name,
            confidence=sighting.confidence,
            box=sighting.box,
            location=sighting.location,
            session_id=sighting.session_id,
            description=sighting.description,
            tags=sighting.tags,
            last_seen=sighting.seen_at,
            background=background,
        )
        created, duplicate_of = await self.store.create(
            report, dedupe_radius_m=self.dedupe_radius_m, now_iso=iso(now)
        )
        self.on_staged()
        _count_filed(created, duplicate_of)
        return ReportOutcome(report_id, created, duplicate_of)

    async def record_sighting(
        self,
        report_id: str,
        *,
        confidence: float,
        box: Box,
        image: bytes | None,
        seen_at: datetime,
    ) -> None:
        report = await self.store.get(_checked_id(report_id))
        if report is None:
            log.info("sighting_for_missing_report", report_id=report_id)
            return
        # The best frame only ever improves. Two improving frames racing each other can still
        # finish in either order; that window is the width of one image write.
        if report.confidence is not None and confidence <= report.confidence:
            return
        prepared = await self.images.prepare_frame(
            report_id,
            image,
            label=report.service_name,
            code=report.code,
            confidence=confidence,
            box=box,
        )
        now = self.clock()
        fields = {
            "confidence": repr(float(confidence)),
            "conf_micros": micros(confidence),
            "box": box_json(box),
            "last_seen": iso(seen_at),
            "last_seen_ms": str(epoch_ms(seen_at)),
            **await self.images.stage(report_id, prepared, now_ms=epoch_ms(now)),
        }
        await self.store.update(report_id, fields, iso(now))
        self.on_staged()

    # The HTTP API

    async def create_manual(
        self,
        draft: ManualReport,
        *,
        idempotency_key: IdempotencyKey | None,
        render: Callable[[Report], str],
    ) -> tuple[int, str]:
        """Files a manual report; returns the HTTP status and body to answer with.

        With an Idempotency-Key, the first request claims the key with a lease and the id its
        report will get; a retry with the same payload gets the stored answer, or takes the
        work over with that same id once the lease has lapsed (the first process crashed), so
        a retry never files a second report.
        """
        if idempotency_key is None:
            return 201, render(await self._file_manual(draft, new_report_id()))
        token = secrets.token_hex(16)
        claim = await self.store.claim(
            idempotency_key,
            fingerprint=draft.fingerprint(),
            token=token,
            report_id=new_report_id(),
            now_ms=epoch_ms(self.clock()),
            lease_ms=IDEMPOTENCY_LEASE_MS,
        )
        if claim.outcome == "mismatch":
            raise Unprocessable("This Idempotency-Key was already used with another request.")
        if claim.outcome == "busy":
            raise Conflict("A request with this Idempotency-Key is still in progress.")
        if claim.outcome == "done":
            assert claim.status is not None
            assert claim.body is not None
            return claim.status, claim.body
        assert claim.report_id is not None
        try:
            body = render(await self._file_manual(draft, claim.report_id))
        except RoadhazardError:
            # The client's own mistake (an unreadable image): its answer says so, no log needed.
            await self.store.release(idempotency_key, token=token)
            raise
        except Exception:
            log.warning("idempotent_create_failed", exc_info=True)
            await self.store.release(idempotency_key, token=token)
            raise
        await self.store.finish(idempotency_key, token=token, status=201, body=body)
        return 201, body

    async def _file_manual(self, draft: ManualReport, report_id: str) -> Report:
        existing = await self.store.get(report_id)
        if existing is not None:
            return existing
        prepared: list[PreparedImage] = []
        if draft.image is not None:
            info = await inspect_image(draft.image, self.max_image_pixels)
            prepared.append(PreparedImage("original", draft.image, info.content_type))
        background = await self._stage(report_id, prepared, draft.location, draft.address)
        now = self.clock()
        hazard = draft.hazard
        report = Report.filed(
            report_id,
            hazard,
            now,
            severity=draft.severity or hazard.severity,
            class_name=None,
            confidence=None,
            box=None,
            location=draft.location,
            session_id=None,
            description=draft.description,
            tags=draft.tags,
            last_seen=now,
            background=background,
        )
        created, duplicate_of = await self.store.create(
            report, dedupe_radius_m=self.dedupe_radius_m, now_iso=iso(now)
        )
        self.on_staged()
        _count_filed(created, duplicate_of)
        return await self.get(report_id)

    async def get(self, report_id: str) -> Report:
        report = await self.store.get(report_id) if is_report_id(report_id) else None
        if report is None:
            raise NotFound(f"There is no report {shown(report_id)}.")
        return report

    async def list(self, query: ReportQuery) -> ReportPage:
        return await list_reports(self.store, query)

    async def update(self, report_id: str, changes: ReportChanges) -> Report:
        fields: dict[str, str] = {}
        if "description" in changes.fields_set:
            fields["description"] = changes.description or ""
        if "tags" in changes.fields_set:
            fields["tags"] = json.dumps(list(changes.tags))
        if "severity" in changes.fields_set:
            fields["severity"] = changes.severity.value if changes.severity else ""
        await self.get(report_id)
        if fields and not await self.store.update(report_id, fields, iso(self.clock())):
            raise NotFound(f"There is no report {shown(report_id)}.")
        return await self.get(report_id)

    async def act(self, report_id: str, action: Action) -> Report:
        await self.get(report_id)
        target = ACTION_TARGET[action]
        result = await self.store.transition(
            report_id, target, sources_of(target), iso(self.clock())
        )
        if result.outcome == "missing":
            raise NotFound(f"There is no report {shown(report_id)}.")
        if result.outcome == "illegal":
            state = result.state.value if result.state else "unknown"
            raise Conflict(f"A report in state '{state}' cannot move to '{target.value}'.")
        metrics.count_report_transition(target.value)
        return await self.get(report_id)

    async def delete(self, report_id: str) -> None:
        if not is_report_id(report_id) or not await self.store.delete(report_id):
            raise NotFound(f"There is no report {shown(report_id)}.")
        await self._forget(report_id)

    async def image(self, report_id: str, kind: ImageKind) -> ImageSource:
        report = await self.get(report_id)
        content_type = report.image_types.get(kind)
        source = None
        if content_type is not None:
            status = ImageStatus(report.image_status.get(kind, ImageStatus.STORED.value))
            source = await self.images.source(report.id, kind, content_type, status)
        if source is None:
            raise NotFound(f"Report {shown(report_id)} has no {kind} image.")
        return source

    def public_url(self, report_id: str, kind: str, thumbnail: bool) -> str | None:
        """The image store's own URL of a stored image (Cloudinary), or None."""
        for known in IMAGE_KINDS:
            if kind == known:
                return self.images.public_url(report_id, known, thumbnail=thumbnail)
        return None

    async def stats(self) -> ReportStats:
        counters = await self.store.stats()
        since = epoch_ms(self.clock() - timedelta(hours=24))
        last_24h = await self.store.count_between(since)

        def group(prefix: str, names: list[str] | None = None) -> dict[str, int]:
            found = {
                name.removeprefix(prefix): value
                for name, value in counters.items()
                if name.startswith(prefix) and value
            }
            return {name: found.get(name, 0) for name in names} if names else found

        samples = counters.get("conf_n", 0)
        return ReportStats(
            total=counters.get("total", 0),
            by_status=group("status:", [s.value for s in ReportStatus]),
            by_state=group("state:", [s.value for s in ReportState]),
            by_class=group("class:"),
            by_severity=group("severity:"),
            last_24h=last_24h,
            mean_confidence=(
                round(counters.get("conf_micros", 0) / samples / 1_000_000, 6) if samples else None
            ),
        )

    # Retention

    async def purge_expired(self, limit: int = 10_000) -> int:
        """Deletes, through the ordinary delete path, reports older than the retention period."""
        if self.retention_days == 0:
            return 0
        cutoff = epoch_ms(self.clock() - timedelta(days=self.retention_days))
        purged = 0
        while purged < limit:
            expired = await self.store.created_before(cutoff, min(PURGE_BATCH, limit - purged))
            if not expired:
                break
            for report_id in expired:
                # Another process may purge the same report first: that is fine.
                if await self.store.delete(report_id):
                    await self._forget(report_id)
                    purged += 1
            if len(expired) < PURGE_BATCH:
                break
        if purged:
            log.info("reports_purged", count=purged, retention_days=self.retention_days)
        return purged

    def start(self) -> None:
        if self.retention_days and self._retention is None:
            self._retention = Periodic(
                "report-retention", self.purge_expired, self.purge_interval_s
            )
            self._retention.start()

    async def aclose(self) -> None:
        retention, self._retention = self._retention, None
        if retention is not None:
            await retention.aclose()

    # Background work

    async def _stage(
        self,
        report_id: str,
        images: Sequence[PreparedImage],
        location: GeoPoint | None,
        address_query: str | None,
    ) -> dict[str, str]:
        """Stages the report's uploads and geocoding before the report itself is written, so
        a report never exists without the jobs that complete it."""
        now_ms = epoch_ms(self.clock())
        fields = await self.images.stage(report_id, images, now_ms=now_ms)
        fields |= await self.addresses.stage(
            report_id, location=location, query=address_query, now_ms=now_ms
        )
        if address_query:
            fields["address_query"] = address_query
        return fields

    async def _forget(self, report_id: str) -> None:
        """After a delete: the images go from the store, pending geocoding is dropped."""
        now_ms = epoch_ms(self.clock())
        await self.images.stage_removal(report_id, now_ms=now_ms)
        await self.addresses.cancel(report_id)
        self.on_staged()


def _count_filed(created: bool, duplicate_of: str | None) -> None:
    if created:
        metrics.count_report_created()
        if duplicate_of is not None:
            metrics.count_report_deduplicated()


def _checked_id(report_id: str) -> str:
    if not is_report_id(report_id):
        raise ValueError(f"{report_id!r} is not a report id (a ULID)")
    return report_id


def _code(hazard: HazardType) -> str:
    return hazard.code or hazard.model_name
