"""What the service holds while it runs: built by the lifespan, kept as one typed AppState,
closed by the lifespan (composition level, with app.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from functools import partial

from redis.asyncio import Redis
from starlette.datastructures import State

from roadhazard.access.service import AccessPolicy
from roadhazard.coverage.service import CoverageService
from roadhazard.coverage.store import CoverageStore, Limits
from roadhazard.detection.engine import Detector
from roadhazard.detection.pool import InferencePool
from roadhazard.detection.service import DetectionService, DetectorLoader
from roadhazard.geocoding.service import GeocodingService
from roadhazard.health.service import ReadinessRegistry
from roadhazard.health.version import resolve_version
from roadhazard.media.cloudinary import CloudinaryImageStore
from roadhazard.media.service import ImageStore, LocalImageStore
from roadhazard.ratelimit import RateLimiter
from roadhazard.realtime.feed import ReportFeed
from roadhazard.realtime.registry import StreamRegistry
from roadhazard.redis import open_redis, redis_readiness_check
from roadhazard.reports.addresses import GEOCODE_QUEUE, AddressJobs, ReportAddresses
from roadhazard.reports.images import IMAGE_QUEUE, ImageJobs, ReportImages
from roadhazard.reports.outbox import Outbox, readiness_with_backlog
from roadhazard.reports.service import ReportsService
from roadhazard.reports.store import ReportStore
from roadhazard.reports.worker import QueueWorker, WorkerOptions, wall_ms
from roadhazard.resilience import CircuitBreaker, RetryPolicy
from roadhazard.sessions.service import SessionService, TrackingDefaults
from roadhazard.sessions.store import SessionStore
from roadhazard.settings import Settings


@dataclass(frozen=True)
class AppState:
    """Everything a request may need, built once per process.

    `install` keeps each part on `app.state` under its field's name, as polar keeps its
    lifespan state: each domain's `dependencies.py` reads the one part it serves, and no
    module below the composition imports this class.
    """

    settings: Settings
    access_policy: AccessPolicy
    rate_limiter: RateLimiter
    readiness: ReadinessRegistry
    redis: Redis
    version: str
    detection: DetectionService
    reports: ReportsService
    images: ImageStore
    sessions: SessionService
    coverage: CoverageService
    geocoding: GeocodingService
    workers: tuple[QueueWorker, ...]
    streams: StreamRegistry
    report_feed: ReportFeed

    def install(self, target: State) -> None:
        for field in fields(self):
            setattr(target, field.name, getattr(self, field.name))
        # /metrics refreshes the readiness gauges first; results are cached and shared, so a
        # scrape costs the checks little.
        target.before_metrics = self.readiness.evaluate

    @classmethod
    def of(cls, source: State) -> AppState:
        """The state `install` kept on `source` (for tests and tools that hold the app)."""
        return cls(**{field.name: getattr(source, field.name) for field in fields(cls)})


def model_loader(settings: Settings) -> DetectorLoader:
    def load() -> Detector:
        return Detector.load(
            settings.model_path,
            settings.resolved_runtime,
            threads=settings.inference_threads,
            concurrency=settings.inference_concurrency,
            default_imgsz=settings.model_imgsz,
            class_names=settings.model_class_names,
        )

    return load


def open_redis_for(settings: Settings) -> AbstractAsyncContextManager[Redis]:
    url = settings.redis_url.get_secret_value() if settings.redis_url else None
    return open_redis(
        url,
        settings.data_dir,
        socket_timeout_s=settings.redis_socket_timeout_s,
        connect_timeout_s=settings.redis_connect_timeout_s,
        retries=settings.redis_retries,
        embedded_start_timeout_s=settings.redis_embedded_start_timeout_s,
    )


async def open_state(
    settings: Settings, access_policy: AccessPolicy, loader: DetectorLoader, redis: Redis
) -> AppState:
    """Builds every service over `redis` and starts their threads and background workers."""
    detection = _detection(settings, loader)
    readiness = _readiness(settings, detection, redis)
    images = _image_store(settings)
    geocoding = GeocodingService.from_settings(settings, redis)
    reports, workers = _reports(settings, redis, readiness, images, geocoding)
    coverage = _coverage(settings, redis)
    sessions = SessionService(
        store=SessionStore(
            redis, ttl_s=settings.session_idle_ttl_s, retry_ttl_s=settings.session_retry_ttl_s
        ),
        detection=detection,
        reports=reports,
        coverage=coverage,
        defaults=TrackingDefaults(
            idle_ttl_s=settings.session_idle_ttl_s,
            track_window_s=settings.track_window_s,
            track_radius_m=settings.track_radius_m,
        ),
    )
    version = await resolve_version(settings.build_sha)
    detection.start()
    reports.start()
    geocoding.start()
    # The offline gazetteer is parsed in a thread, but its JSON parse holds the GIL for about
    # a second; done before the first request is accepted, that pause delays nobody.
    await geocoding.wait_loaded()
    for worker in workers:
        worker.start()
    report_feed = _report_feed(settings, reports)
    report_feed.start()
    return AppState(
        settings=settings,
        access_policy=access_policy,
        rate_limiter=RateLimiter.from_settings(settings, redis),
        readiness=readiness,
        redis=redis,
        version=version,
        detection=detection,
        reports=reports,
        images=images,
        sessions=sessions,
        coverage=coverage,
        geocoding=geocoding,
        workers=workers,
        streams=StreamRegistry(),
        report_feed=report_feed,
    )


async def close_state(state: AppState, *, drain_s: float) -> None:
    """Readiness first, so balancers stop sending; then the background work in hand gets
    what is left of the drain deadline, and every client is closed."""
    state.readiness.mark_shutting_down()
    await state.report_feed.aclose()
    await asyncio.gather(*(worker.drain(drain_s) for worker in state.workers))
    await state.reports.aclose()
    await state.detection.aclose()
    await state.geocoding.aclose()
    await state.images.aclose()


def _report_feed(settings: Settings, reports: ReportsService) -> ReportFeed:
    return ReportFeed(
        reports,
        queue_size=settings.events_queue_size,
        max_listeners=settings.events_max_listeners,
        # XREAD BLOCK waits on a pooled connection: well within the socket timeout, which
        # would otherwise take the wait for a dead server.
        block_ms=max(10, min(1000, round(settings.redis_socket_timeout_s * 500))),
        retry_after_s=settings.retry_after_s,
    )


def _detection(settings: Settings, loader: DetectorLoader) -> DetectionService:
    pool = InferencePool(
        concurrency=settings.inference_concurrency,
        queue_size=settings.inference_queue_size,
        timeout_s=settings.inference_timeout_s,
        retry_after_s=settings.retry_after_s,
    )
    return DetectionService(
        loader=loader,
        pool=pool,
        conf_setting=settings.conf_threshold,
        iou=settings.iou_threshold,
        max_det=settings.max_det,
        max_image_pixels=settings.max_image_pixels,
        warmup_runs=settings.model_warmup_runs,
        retry_after_s=settings.retry_after_s,
        class_map=settings.class_map,
    )


def _coverage(settings: Settings, redis: Redis) -> CoverageService:
    limits = Limits(
        pass_gap_s=settings.coverage_pass_gap_s,
        retention_days=settings.coverage_retention_days,
        session_ttl_s=settings.session_idle_ttl_s,
        track_max_points=settings.track_max_points,
    )
    return CoverageService(CoverageStore(redis, limits))


def _readiness(settings: Settings, detection: DetectionService, redis: Redis) -> ReadinessRegistry:
    readiness = ReadinessRegistry(cache_s=settings.ready_cache_s)
    readiness.register(
        "model",
        detection.readiness_check,
        timeout_s=settings.ready_check_timeout_s,
        required=True,
    )
    readiness.register(
        "redis",
        partial(redis_readiness_check, redis, timeout_s=settings.ready_check_timeout_s),
        timeout_s=settings.ready_check_timeout_s,
        required=True,
    )
    return readiness


def _reports(
    settings: Settings,
    redis: Redis,
    readiness: ReadinessRegistry,
    images: ImageStore,
    geocoding: GeocodingService,
) -> tuple[ReportsService, tuple[QueueWorker, ...]]:
    """The reports service, and the workers that upload its images and geocode its reports."""
    # Every script that changes a report adds to the event stream, kept this long.
    max_len = settings.events_max_len
    report_store = ReportStore(redis, events_max_len=max_len)
    image_outbox = Outbox(redis, IMAGE_QUEUE, events_max_len=max_len)
    geocode_outbox = Outbox(redis, GEOCODE_QUEUE, events_max_len=max_len)
    report_images = ReportImages(image_outbox, images, report_store, settings.max_image_pixels)
    workers = _workers(settings, report_images, image_outbox, geocode_outbox, geocoding)
    reports = ReportsService(
        store=report_store,
        images=report_images,
        addresses=ReportAddresses(geocode_outbox),
        dedupe_radius_m=settings.dedupe_radius_m,
        retention_days=settings.report_retention_days,
        max_image_pixels=settings.max_image_pixels,
        on_staged=partial(_wake_all, workers),
    )
    _register_dependency_checks(
        settings, readiness, images, image_outbox, geocoding, geocode_outbox
    )
    return reports, workers


def _wake_all(workers: tuple[QueueWorker, ...]) -> None:
    for worker in workers:
        worker.wake()


def _image_store(settings: Settings) -> ImageStore:
    credentials = settings.cloudinary
    if credentials is None:
        return LocalImageStore(settings.data_dir / "images")
    return CloudinaryImageStore(
        credentials,
        api_url=settings.cloudinary_api_url,
        delivery_url=settings.cloudinary_delivery_url,
        folder=settings.cloudinary_folder,
        timeout_s=settings.cloudinary_timeout_s,
        retry=RetryPolicy(attempts=settings.dependency_retries),
        breaker=CircuitBreaker(
            "cloudinary",
            failure_threshold=settings.circuit_failure_threshold,
            reset_after_s=settings.circuit_reset_s,
        ),
    )


def _workers(
    settings: Settings,
    report_images: ReportImages,
    image_outbox: Outbox,
    geocode_outbox: Outbox,
    geocoding: GeocodingService,
) -> tuple[QueueWorker, ...]:
    options = WorkerOptions(
        poll_s=settings.outbox_poll_s, max_backoff_s=settings.outbox_max_backoff_s
    )
    return (
        QueueWorker(image_outbox, ImageJobs(report_images), options),
        # One at a time: the geocoder takes one request a second across every process anyway.
        QueueWorker(
            geocode_outbox,
            AddressJobs(geocoding, report_images.reports),
            dataclasses.replace(options, concurrency=1),
        ),
    )


def _register_dependency_checks(
    settings: Settings,
    readiness: ReadinessRegistry,
    images: ImageStore,
    image_outbox: Outbox,
    geocoding: GeocodingService,
    geocode_outbox: Outbox,
) -> None:
    """The image store and the geocoder inform readiness but never fail it: reports are still
    taken while they are down, and their work waits in the outbox (see docs/operations.md)."""
    for name, check, outbox, work in (
        ("image_store", images.readiness_check, image_outbox, "image uploads"),
        ("geocoder", geocoding.readiness_check, geocode_outbox, "geocoding lookups"),
    ):
        readiness.register(
            name,
            partial(
                readiness_with_backlog,
                check,
                outbox,
                work=work,
                stale_after_s=settings.outbox_stale_after_s,
                clock_ms=wall_ms,
            ),
            timeout_s=settings.ready_check_timeout_s,
            required=False,
        )
