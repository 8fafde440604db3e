"""The reports domain's API: what sessions, the router and the lifespan call.

`new_report_id`, `GeoPoint`, `Sighting`, `ReportOutcome`, `create_from_sighting` and
`record_sighting` are the contract of docs/design/sessions-and-reports.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import structlog

from roadhazard.detection.engine import Box
from roadhazard.errors import Conflict, NotFound, shown
from roadhazard.ids import is_ulid, new_ulid
from roadhazard.media.service import IMAGE_KINDS, ImageKind, inspect_image
from roadhazard.observability import metrics
from roadhazard.reports.addresses import ReportAddresses
from roadhazard.reports.cluster_store import ClusterStore
from roadhazard.reports.clusters import ClusterMap, ensure_cells, find_clusters
from roadhazard.reports.events import EventId, ReportEvent, ReportEventLog, StreamBounds
from roadhazard.reports.idempotency import IDEMPOTENCY_LEASE_MS, Filed, file_once
from roadhazard.reports.images import ImageSource, PreparedImage, ReportImages
from roadhazard.reports.listing import ReportPage, ReportQuery, list_reports
from roadhazard.reports.models import (
    Background,
    BestFrame,
    FiledReport,
    GeoPoint,
    IdempotencyKey,
    ImageStatus,
    ImageUrls,
    ManualReport,
    RenderedAnswer,
    Report,
    ReportChanges,
    ReportOutcome,
    ReportStats,
    Sighting,
)
from roadhazard.reports.periodic import Periodic
from roadhazard.reports.states import ACTION_TARGET, Action, sources_of
from roadhazard.reports.store import ReportStore
from roadhazard.reports.walk import ReportWalk, WalkLimits
from roadhazard.timeutil import epoch_ms, iso, utc_now

__all__ = [
    "IDEMPOTENCY_LEASE_MS",
    "EventId",
    "Filed",
    "GeoPoint",
    "ManualReport",
    "ReportChanges",
    "ReportEvent",
    "ReportOutcome",
    "ReportStats",
    "ReportsService",
    "Sighting",
    "StreamBounds",
    "new_report_id",
]

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
DailyCounts = list[tuple[date, int]]  # (UTC day, reports created that day)

PURGE_BATCH = 200


def new_report_id() -> str:
    """A fresh report id: a ULID, so reports sort by when they were filed."""
    return new_ulid()


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
    # How often the map's cells are checked for reports written before them (one GET when none).
    cells_check_interval_s: float = 3600.0
    cells: ClusterStore = field(init=False, repr=False)
    events: ReportEventLog = field(init=False, repr=False)
    _retention: Periodic | None = field(default=None, init=False, repr=False)
    _cells_check: Periodic | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.cells = ClusterStore(self.store.redis)
        self.events = ReportEventLog(self.store.redis)

    # Sessions' contract

    async def create_from_sighting(self, sighting: Sighting) -> ReportOutcome:
        report_id = _checked_id(sighting.report_id)
        existing = await self.store.get(report_id)
        if existing is not None:
            return ReportOutcome(report_id, False, existing.duplicate_of)
        hazard = sighting.hazard
        prepared = await self.images.prepare_frame(
            report_id,
            sighting.image,
            label=hazard.label,
            code=hazard.code or hazard.model_name,
            confidence=sighting.confidence,
            box=sighting.box,
        )
        draft = FiledReport(
            report_id,
            hazard,
            severity=hazard.severity,
            location=sighting.location,
            description=sighting.description,
            tags=sighting.tags,
            class_name=hazard.model_name,
            confidence=sighting.confidence,
            box=sighting.box,
            session_id=sighting.session_id,
            last_seen=sighting.seen_at,
        )
        created, duplicate_of = await self._file(draft, prepared, address_query=None)
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
        staged = await self.images.stage(report_id, prepared, now_ms=epoch_ms(now))
        await self.store.update(report_id, BestFrame(confidence, box, seen_at, staged), iso(now))
        self.on_staged()

    # The HTTP API

    async def create_manual(
        self, draft: ManualReport, *, idempotency_key: IdempotencyKey | None
    ) -> Filed | RenderedAnswer:
        """Files a manual report; with an Idempotency-Key, once (see idempotency.py)."""
        if idempotency_key is None:
            return Filed(await self._file_manual(draft, new_report_id()))
        return await file_once(
            self.store,
            idempotency_key,
            draft,
            now_ms=epoch_ms(self.clock()),
            file=lambda report_id: self._file_manual(draft, report_id),
        )

    async def _file_manual(self, draft: ManualReport, report_id: str) -> Report:
        existing = await self.store.get(report_id)
        if existing is not None:
            return existing
        prepared: list[PreparedImage] = []
        if draft.image is not None:
            info = await inspect_image(draft.image, self.max_image_pixels)
            prepared.append(PreparedImage("original", draft.image, info.content_type))
        filed = FiledReport(
            report_id,
            draft.hazard,
            severity=draft.severity or draft.hazard.severity,
            location=draft.location,
            description=draft.description,
            tags=draft.tags,
        )
        await self._file(filed, prepared, address_query=draft.address)
        return await self.get(report_id)

    async def _file(
        self, draft: FiledReport, images: Sequence[PreparedImage], *, address_query: str | None
    ) -> tuple[bool, str | None]:
        """Stages the report's background work, then writes it; (created, duplicate_of)."""
        background = await self._stage(draft.report_id, images, draft.location, address_query)
        now = self.clock()
        report = Report.filed(draft, now, background)
        created, duplicate_of = await self.store.create(
            report, dedupe_radius_m=self.dedupe_radius_m, now_iso=iso(now)
        )
        self.on_staged()
        if created:
            metrics.count_report_created()
            if duplicate_of is not None:
                metrics.count_report_deduplicated()
        return created, duplicate_of

    async def get(self, report_id: str) -> Report:
        report = await self.store.get(report_id) if is_ulid(report_id) else None
        if report is None:
            raise NotFound(f"There is no report {shown(report_id)}.")
        return report

    async def get_many(self, report_ids: Sequence[str]) -> list[Report]:
        """The reports among `report_ids` that exist, in the order given, each once; an id that
        is not a report id (a ULID), or names no report, is left out. One round trip."""
        wanted = [report_id for report_id in dict.fromkeys(report_ids) if is_ulid(report_id)]
        return await self.store.get_many(wanted)

    async def list(self, query: ReportQuery) -> ReportPage:
        return await list_reports(self.store, query)

    def walk(self, query: ReportQuery, limits: WalkLimits) -> ReportWalk:
        """Every report `query` matches, batch after batch (the GIS exports)."""
        return ReportWalk(self.store, query, limits)

    async def update(self, report_id: str, changes: ReportChanges) -> Report:
        await self.get(report_id)
        if not await self.store.update(report_id, changes, iso(self.clock())):
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
        if not is_ulid(report_id) or not await self.store.delete(report_id):
            raise NotFound(f"There is no report {shown(report_id)}.")
        await self._forget(report_id)

    async def image(self, report_id: str, kind: ImageKind) -> ImageSource:
        report = await self.get(report_id)
        content_type = report.image_types.get(kind)
        source = None
        if content_type is not None:
            status = report.image_status.get(kind, ImageStatus.STORED)
            source = await self.images.source(report.id, kind, content_type, status)
        if source is None:
            raise NotFound(f"Report {shown(report_id)} has no {kind} image.")
        return source

    def image_urls(self, report: Report) -> dict[str, ImageUrls]:
        """The image store's own URLs (Cloudinary) of the report's stored images, by kind."""
        return {
            kind: ImageUrls(
                delivery=self.images.public_url(report.id, kind),
                thumbnail=self.images.public_url(report.id, kind, thumbnail=True),
            )
            for kind in IMAGE_KINDS
            if kind in report.image_types
            and report.image_status.get(kind, ImageStatus.STORED) is ImageStatus.STORED
        }

    async def stats(self) -> ReportStats:
        return await self.store.stats(since_ms=epoch_ms(self.clock() - timedelta(hours=24)))

    async def daily_counts(self, days: int) -> DailyCounts:
        """Reports created on each of the last `days` UTC days, today included, oldest first."""
        today = self.clock().astimezone(UTC).date()
        first = today - timedelta(days=days - 1)
        midnights = [
            datetime.combine(first + timedelta(days=n), time(), UTC) for n in range(days + 1)
        ]
        counts = await self.store.count_per_interval([epoch_ms(m) for m in midnights])
        return [(first + timedelta(days=n), count) for n, count in enumerate(counts)]

    async def clusters(self, query: ReportQuery, zoom: int) -> ClusterMap:
        """The map over `query.bbox` at `zoom` (roadhazard.reports.clusters)."""
        return await find_clusters(self.cells, query, zoom)

    async def ensure_cells(self) -> int:
        """Counts reports written before the map's cells into them, once (see clusters.py)."""
        return await ensure_cells(self.store, self.cells)

    # The live feed: what the report scripts recorded (roadhazard.reports.events)

    async def events_after(self, last: EventId, count: int) -> Sequence[ReportEvent]:
        return await self.events.after(last, count)

    async def wait_for_events(
        self, last: EventId, *, block_ms: int, count: int
    ) -> Sequence[ReportEvent]:
        return await self.events.wait_after(last, block_ms=block_ms, count=count)

    async def event_bounds(self) -> StreamBounds:
        return await self.events.bounds()

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
        # In the background: the first check may have a million older reports to count, and
        # a Redis outage at start only delays it to the next round.
        if self._cells_check is None:
            self._cells_check = Periodic(
                "report-cells", self.ensure_cells, self.cells_check_interval_s
            )
            self._cells_check.start()

    async def aclose(self) -> None:
        retention, self._retention = self._retention, None
        cells_check, self._cells_check = self._cells_check, None
        for task in (retention, cells_check):
            if task is not None:
                await task.aclose()

    # Background work

    async def _stage(
        self,
        report_id: str,
        images: Sequence[PreparedImage],
        location: GeoPoint | None,
        address_query: str | None,
    ) -> Background:
        """Stages the report's uploads and geocoding before the report itself is written, so
        a report never exists without the jobs that complete it."""
        now_ms = epoch_ms(self.clock())
        staged = await self.images.stage(report_id, images, now_ms=now_ms)
        address_status = await self.addresses.stage(
            report_id, location=location, query=address_query, now_ms=now_ms
        )
        return Background(staged, address_status, address_query or None)

    async def _forget(self, report_id: str) -> None:
        """After a delete: the images go from the store, pending geocoding is dropped."""
        now_ms = epoch_ms(self.clock())
        await self.images.stage_removal(report_id, now_ms=now_ms)
        await self.addresses.cancel(report_id)
        self.on_staged()


def _checked_id(report_id: str) -> str:
    if not is_ulid(report_id):
        raise ValueError(f"{report_id!r} is not a report id (a ULID)")
    return report_id
