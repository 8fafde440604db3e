"""The application factory: routers, middleware, error handlers and the lifespan that builds
the AppState (roadhazard.lifespan)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any

import structlog
from fastapi import FastAPI

from roadhazard import __version__
from roadhazard.access.service import AccessPolicy
from roadhazard.apidocs.router import install_docs
from roadhazard.configuration import load_settings
from roadhazard.coverage.router import router as coverage_router
from roadhazard.dashboard.router import install_dashboard
from roadhazard.detection.router import document_batch_limit
from roadhazard.detection.router import router as detection_router
from roadhazard.detection.service import DetectorLoader
from roadhazard.edge.body_size import BodySizeLimitMiddleware
from roadhazard.edge.header_limits import HeaderLimitMiddleware, HeaderLimits
from roadhazard.edge.security_headers import SECURITY_HEADER_FIELDS, SecurityHeadersMiddleware
from roadhazard.error_handlers import install_error_handlers
from roadhazard.geocoding.router import router as geocoding_router
from roadhazard.health.router import router as health_router
from roadhazard.lifespan import AppState, close_state, model_loader, open_redis_for, open_state
from roadhazard.logging import configure_logging, write_logs_directly
from roadhazard.observability.loop_lag import LoopLagMonitor
from roadhazard.observability.middleware import MetricsMiddleware
from roadhazard.observability.multiprocess import mark_process_dead
from roadhazard.observability.router import router as metrics_router
from roadhazard.open311.errors import OPEN311_PATHS
from roadhazard.open311.errors import render_error as render_open311_error
from roadhazard.open311.router import router as open311_router
from roadhazard.realtime.events_router import router as report_events_router
from roadhazard.realtime.router import router as realtime_router
from roadhazard.reports.router import router as reports_router
from roadhazard.request_context import RequestIdMiddleware
from roadhazard.sessions.router import router as sessions_router
from roadhazard.settings import Settings
from roadhazard.shutdown import ShutdownAnnouncer

log = structlog.get_logger(__name__)


def create_app(settings: Settings, *, detector_loader: DetectorLoader | None = None) -> FastAPI:
    """Builds the service. `detector_loader` replaces the model file, for tests and tools."""
    configure_logging(
        settings.resolved_log_format, settings.log_level, secrets=settings.secret_values()
    )
    # Built now, so that a bad ROADHAZARD_API_KEYS stops create_app, not the first request.
    access_policy = AccessPolicy.from_settings(settings)

    app = FastAPI(
        title="Roadhazard",
        version=__version__,
        description="Road hazard detection and de-duplicated hazard reports.",
        lifespan=partial(run_lifespan, settings, access_policy, detector_loader),
        # Served by apidocs instead: guarded like other reads, and without a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(
        app,
        retry_after_s=settings.retry_after_s,
        crash_headers=SECURITY_HEADER_FIELDS,
        renderers={OPEN311_PATHS: render_open311_error},
    )
    app.include_router(health_router)
    app.include_router(detection_router)
    # Before the reports' routes, whose /v1/reports/{report_id} would take "events" for an id.
    app.include_router(report_events_router)
    app.include_router(reports_router)
    app.include_router(open311_router)
    app.include_router(sessions_router)
    app.include_router(coverage_router)
    app.include_router(realtime_router)
    app.include_router(geocoding_router)
    app.include_router(metrics_router)
    if settings.docs_enabled:
        install_docs(app)
    install_dashboard(app)
    _document_settings(app, settings)
    app.add_middleware(BodySizeLimitMiddleware, limit=settings.max_request_bytes)
    app.add_middleware(HeaderLimitMiddleware, limits=_header_limits(settings))
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    # Outermost, so its timings and status classes include every other layer's answer.
    app.add_middleware(MetricsMiddleware)
    return app


@asynccontextmanager
async def run_lifespan(
    settings: Settings,
    access_policy: AccessPolicy,
    detector_loader: DetectorLoader | None,
    app: FastAPI,
) -> AsyncIterator[None]:
    """Builds the AppState and keeps it on app.state while the app serves; closes it after."""
    monitor = LoopLagMonitor(warn_after_s=settings.loop_lag_warn_ms / 1000)
    monitor.start()
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(open_redis_for(settings))
        state = await open_state(
            settings, access_policy, detector_loader or model_loader(settings), redis
        )
        state.install(app.state)
        announcer = ShutdownAnnouncer(
            settings.shutdown_announce_s,
            settings.shutdown_drain_s,
            state.readiness.mark_shutting_down,
            # Streams go away with 1001 while uvicorn still holds them (it would send 1012);
            # event feeds end, or uvicorn would wait for them until its graceful timeout.
            before_handover=partial(_close_long_connections, state),
        )
        announcer.install()
        _log_started(state)
        try:
            yield
        finally:
            await close_state(state, drain_s=announcer.seconds_left())
            announcer.uninstall()
        # Leaving the stack closes the Redis pool, then stops an embedded server.
    await monitor.aclose()
    log.info("service_stopped")
    mark_process_dead(os.getpid())
    await asyncio.to_thread(write_logs_directly)


async def _close_long_connections(state: AppState) -> None:
    await asyncio.gather(state.streams.close_all(), state.report_feed.close_all())


def _document_settings(app: FastAPI, settings: Settings) -> None:
    """The API document states this deployment's limits, once, when it is first generated."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = generate()  # FastAPI caches it in app.openapi_schema
        if fresh:
            document_batch_limit(document, settings.batch_max_images)
        return document

    # FastAPI's documented way to change the generated document.
    app.openapi = openapi  # type: ignore[method-assign]


def _header_limits(settings: Settings) -> HeaderLimits:
    return HeaderLimits(
        max_headers=settings.max_headers,
        max_line_bytes=settings.max_header_line_bytes,
        max_total_bytes=settings.max_header_bytes,
    )


def _log_started(state: AppState) -> None:
    log.info("service_started", version=state.version, model=str(state.settings.model_path))
    if state.access_policy.open_access:
        log.warning(
            "api_keys_not_configured",
            detail="every request is allowed; set ROADHAZARD_API_KEYS in production",
        )


def create_app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory` and for each worker process of `roadhazard serve`."""
    return create_app(load_settings())
