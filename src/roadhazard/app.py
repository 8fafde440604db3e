"""The application factory: routers, middleware, error handlers and the resource lifespan."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from functools import partial

import structlog
from fastapi import FastAPI
from redis.asyncio import Redis

from roadhazard import __version__
from roadhazard.apidocs.router import install_docs
from roadhazard.deps import Resources
from roadhazard.detection.engine import Detector
from roadhazard.detection.pool import InferencePool
from roadhazard.detection.router import router as detection_router
from roadhazard.detection.service import DetectionService, DetectorLoader
from roadhazard.edge.header_limits import HeaderLimitMiddleware, HeaderLimits
from roadhazard.edge.security_headers import SecurityHeadersMiddleware
from roadhazard.errors import install_error_handlers
from roadhazard.geocoding.router import router as geocoding_router
from roadhazard.geocoding.service import GeocodingService
from roadhazard.health.router import router as health_router
from roadhazard.health.service import ReadinessRegistry
from roadhazard.health.version import resolve_version
from roadhazard.logging import configure_logging, write_logs_directly
from roadhazard.media.cloudinary import CloudinaryImageStore
from roadhazard.media.service import ImageStore, LocalImageStore
from roadhazard.observability.loop_lag import LoopLagMonitor
from roadhazard.observability.middleware import MetricsMiddleware
from roadhazard.observability.multiprocess import mark_process_dead
from roadhazard.observability.router import router as metrics_router
from roadhazard.ratelimit import RateLimiter
from roadhazard.redis import open_redis, redis_readiness_check
from roadhazard.reports.addresses import GEOCODE_QUEUE, AddressJobs, ReportAddresses
from roadhazard.reports.images import IMAGE_QUEUE, ImageJobs, ReportImages
from roadhazard.reports.outbox import Outbox, readiness_with_backlog
from roadhazard.reports.router import router as reports_router
from roadhazard.reports.service import ReportsService
from roadhazard.reports.store import ReportStore
from roadhazard.reports.worker import QueueWorker, WorkerOptions, wall_ms
from roadhazard.request_context import RequestIdMiddleware
from roadhazard.resilience import CircuitBreaker, RetryPolicy
from roadhazard.sessions.router import router as sessions_router
from roadhazard.sessions.service import SessionService, TrackingDefaults
from roadhazard.sessions.store import SessionStore
from roadhazard.settings import Settings, load_settings
from roadhazard.shutdown import ShutdownAnnouncer
from roadhazard.uploads import BodySizeLimitMiddleware

log = structlog.get_logger(__name__)


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


def create_app(settings: Settings, *, detector_loader: DetectorLoader | None = None) -> FastAPI:
    """Builds the service. `detector_loader` replaces the model file, for tests and tools."""
    configure_logging(
        settings.resolved_log_format, settings.log_level, secrets=settings.secret_values()
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        monitor = LoopLagMonitor(warn_after_s=settings.loop_lag_warn_ms / 1000)
        monitor.start()
        async with AsyncExitStack() as stack:
            redis = await stack.enter_async_context(_open_redis(settings))
            resources = await _open_resources(
                settings, detector_loader or model_loader(settings), redis
            )
            app.state.resources = resources
            app.state.rate_limiter = RateLimiter.from_settings(settings, redis)
            # Readiness results are cached and shared, so a scrape costs the checks little.
            app.state.before_metrics = resources.readiness.evaluate
            announcer = ShutdownAnnouncer(
                settings.shutdown_announce_s,
                settings.shutdown_drain_s,
                resources.readiness.mark_shutting_down,
            )
            announcer.install()
            _log_started(settings, resources)
            try:
                yield
            finally:
                await _close_resources(resources, drain_s=announcer.seconds_left())
                announcer.uninstall()
            # Leaving the stack closes the Redis pool, then stops an embedded server.
        await monitor.aclose()
        log.info("service_stopped")
        mark_process_dead(os.getpid())
        await asyncio.to_thread(write_logs_directly)

    app = FastAPI(
        title="Roadhazard",
        version=__version__,
        description="Road hazard detection and de-duplicated hazard reports.",
        lifespan=lifespan,
        # Served by apidocs instead: guarded like other reads, and without a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.access_policy = settings.access_policy
    install_error_handlers(app, retry_after_s=settings.retry_after_s)
    app.include_router(health_router)
    app.include_router(detection_router)
    app.include_router(reports_router)
    app.include_router(sessions_router)
    app.include_router(geocoding_router)
    app.include_router(metrics_router)
    if settings.docs_enabled:
        install_docs(app)
    app.add_middleware(BodySizeLimitMiddleware, limit=settings.max_request_bytes)
    app.add_middleware(HeaderLimitMiddleware, limits=_header_limits(settings))
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    # Outermost, so its timings and status classes include every other layer's answer.
    app.add_middleware(MetricsMiddleware)
    return app


def _header_limits(settings: Settings) -> HeaderLimits:
    return HeaderLimits(
        max_headers=settings.max_headers,
        max_line_bytes=settings.max_header_line_bytes,
        max_total_bytes=settings.max_header_bytes,
    )


def _log_started(settings: Settings, resources: Resources) -> None:
    log.info("service_started", version=resources.version, model=str(settings.model_path))
    if settings.access_policy.open_access:
        log.warning(
            "api_keys_not_configured",
            detail="every request is allowed; set ROADHAZARD_API_KEYS in production",
        )


async def _close_resources(resources: Resources, *, drain_s: float) -> None:
    """Readiness first, so balancers stop sending; then the background work in hand gets
    what is left of the drain deadline, and every client is closed."""
    resources.readiness.mark_shutting_down()
    await asyncio.gather(*(worker.drain(drain_s) for worker in resources.workers))
    await resources.reports.aclose()
    await resources.detection.aclose()
    await resources.geocoding.aclose()
    await resources.images.aclose()


def _open_redis(settings: Settings) -> AbstractAsyncContextManager[Redis]:
    url = settings.redis_url.get_secret_value() if settings.redis_url else None
    return open_redis(
        url,
        settings.data_dir,
        socket_timeout_s=settings.redis_socket_timeout_s,
        connect_timeout_s=settings.redis_connect_timeout_s,
        retries=settings.redis_retries,
        embedded_start_timeout_s=settings.redis_embedded_start_timeout_s,
    )


async def _open_resources(settings: Settings, loader: DetectorLoader, redis: Redis) -> Resources:
    pool = InferencePool(
        concurrency=settings.inference_concurrency,
        queue_size=settings.inference_queue_size,
        timeout_s=settings.inference_timeout_s,
        retry_after_s=settings.retry_after_s,
    )
    detection = DetectionService(
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
    version = await resolve_version(settings.build_sha)
    images = _image_store(settings)
    geocoding = GeocodingService.from_settings(settings, redis)
    report_store = ReportStore(redis)
    image_outbox, geocode_outbox = Outbox(redis, IMAGE_QUEUE), Outbox(redis, GEOCODE_QUEUE)
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
    sessions = SessionService(
        store=SessionStore(
            redis, ttl_s=settings.session_idle_ttl_s, retry_ttl_s=settings.session_retry_ttl_s
        ),
        detection=detection,
        reports=reports,
        defaults=TrackingDefaults(
            idle_ttl_s=settings.session_idle_ttl_s,
            track_window_s=settings.track_window_s,
            track_radius_m=settings.track_radius_m,
        ),
    )
    detection.start()
    reports.start()
    geocoding.start()
    # The offline gazetteer is parsed in a thread, but its JSON parse holds the GIL for about
    # a second; done before the first request is accepted, that pause delays nobody.
    await geocoding.wait_loaded()
    for worker in workers:
        worker.start()
    return Resources(
        detection=detection,
        readiness=readiness,
        redis=redis,
        version=version,
        reports=reports,
        images=images,
        sessions=sessions,
        geocoding=geocoding,
        workers=workers,
    )


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


def create_app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory` and for each worker process of `roadhazard serve`."""
    return create_app(load_settings())
