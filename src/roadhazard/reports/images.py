"""A report's images: staged in the outbox with the report, stored by the background worker.

The request that files a report only writes the image bytes into Redis (milliseconds), so a
slow or unreachable image store never slows a detection or loses an image. Until the worker
has stored it, the image is `pending` and is served from the outbox; once stored it is
`stored`; an image the store refuses outright (e.g. Cloudinary rejects the file) is `failed`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from roadhazard.detection.engine import Box
from roadhazard.media.annotate import Annotation
from roadhazard.media.service import (
    IMAGE_KINDS,
    ImageKind,
    ImageStore,
    StoredImage,
    image_key,
    render_annotated,
    sniff_content_type,
)
from roadhazard.observability import metrics
from roadhazard.reports.models import ImageSettled, ImageStatus, PendingImages
from roadhazard.reports.outbox import Job, Outbox
from roadhazard.reports.store import ReportStore
from roadhazard.reports.worker import RetryLater, wall_ms, without_report
from roadhazard.resilience import PermanentError

log = structlog.get_logger(__name__)

IMAGE_QUEUE = "images"

# What a store refuses for the file itself; anything else (credentials, outages) may heal.
REJECTED_STATUSES = frozenset({400, 413, 415, 422})


@dataclass(frozen=True)
class PreparedImage:
    kind: ImageKind
    data: bytes
    content_type: str


@dataclass(frozen=True)
class ImageSource:
    """Where an image is to be had: its bytes, or the store's own URL to redirect to."""

    image: StoredImage | None = None
    redirect_url: str | None = None


@dataclass
class ReportImages:
    outbox: Outbox
    store: ImageStore
    reports: ReportStore
    max_image_pixels: int

    async def prepare_frame(
        self,
        report_id: str,
        image: bytes | None,
        *,
        label: str,
        code: str,
        confidence: float,
        box: Box,
    ) -> list[PreparedImage]:
        """The frame as sent and its annotated render (in a worker thread)."""
        if image is None:
            return []
        content_type = sniff_content_type(image)
        if content_type is None:
            log.warning("sighting_image_not_stored", report_id=report_id, reason="unknown_type")
            return []
        prepared = [PreparedImage("original", image, content_type)]
        annotation = Annotation(
            # A stable colour per class, whatever ids the model gave its classes.
            class_id=sum(code.encode()),
            label=label,
            confidence=confidence,
            x1=box.x1,
            y1=box.y1,
            x2=box.x2,
            y2=box.y2,
        )
        rendered = await render_annotated(image, [annotation], self.max_image_pixels)
        if rendered is not None:
            prepared.append(PreparedImage("annotated", rendered, "image/jpeg"))
        return prepared

    async def stage(
        self, report_id: str, images: Sequence[PreparedImage], *, now_ms: int
    ) -> PendingImages:
        """Queues the images for the store; returns them as the report will describe them."""
        for prepared in images:
            key = image_key(report_id, prepared.kind)
            await self.outbox.stage(
                key,
                {
                    "op": "put",
                    "report_id": report_id,
                    "kind": prepared.kind,
                    "content_type": prepared.content_type,
                    "data": base64.b64encode(prepared.data).decode("ascii"),
                },
                now_ms=now_ms,
            )
        return PendingImages({prepared.kind: prepared.content_type for prepared in images})

    async def stage_removal(self, report_id: str, *, now_ms: int) -> None:
        """Queues the deletion of every image of a deleted report; it replaces any upload
        still waiting, so nothing is uploaded for a report that is gone."""
        for kind in IMAGE_KINDS:
            await self.outbox.stage(
                image_key(report_id, kind),
                {"op": "delete", "report_id": report_id, "kind": kind},
                now_ms=now_ms,
            )

    async def source(
        self, report_id: str, kind: ImageKind, content_type: str, status: ImageStatus
    ) -> ImageSource | None:
        key = image_key(report_id, kind)
        if status is ImageStatus.PENDING:
            op, data = await self.outbox.fields(key, "op", "data")
            if op == "put" and data:
                return ImageSource(StoredImage(base64.b64decode(data), content_type))
            # Stored in the moment between reading the report and reading the outbox.
        if status is ImageStatus.FAILED:
            return None
        url = self.store.public_url(key)
        if url is not None:
            return ImageSource(redirect_url=url)
        stored = await self.store.get(key)
        return ImageSource(StoredImage(stored.data, content_type)) if stored else None

    def public_url(self, report_id: str, kind: ImageKind, *, thumbnail: bool = False) -> str | None:
        return self.store.public_url(image_key(report_id, kind), thumbnail=thumbnail)


@dataclass
class ImageJobs:
    """The worker's handler for the image queue."""

    images: ReportImages
    clock_ms: Callable[[], int] = wall_ms

    async def handle(self, job: Job) -> ImageSettled | None:
        kind = job.fields["kind"]
        report_id = job.fields["report_id"]
        if kind not in IMAGE_KINDS:
            log.error("image_job_invalid", job_id=job.id)
            return None
        key = image_key(report_id, kind)
        if job.fields.get("op") == "delete":
            await self.images.store.delete(key)
            return None
        if not await self.images.reports.exists(report_id):
            without_report(job, self.clock_ms())
            return None
        data = base64.b64decode(job.fields["data"])
        try:
            await self.images.store.put(key, data, job.fields["content_type"])
        except PermanentError as exc:
            if exc.status_code not in REJECTED_STATUSES:
                metrics.count_image_upload("retry")
                raise RetryLater(str(exc)) from exc
            metrics.count_image_upload("failure")
            log.warning("image_rejected", job_id=job.id, reason=str(exc))
            return ImageSettled(kind, ImageStatus.FAILED)
        except Exception:
            metrics.count_image_upload("retry")
            raise
        metrics.count_image_upload("success")
        return ImageSettled(kind, ImageStatus.STORED)
