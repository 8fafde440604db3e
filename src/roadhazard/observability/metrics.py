"""Every Prometheus metric of the service, defined once, and the helpers that record them.

Callers use the helpers below rather than the metric objects, so label names and their allowed
values stay in this file. Every label is bounded: route templates (never raw paths), fixed sets
of statuses and outcomes, names chosen in code (checks, providers). Never ids, keys or paths.

Multiprocess mode (`roadhazard serve --workers N`)
--------------------------------------------------
Each uvicorn worker is a separate process, so in-memory metrics would show one random worker per
scrape. prometheus_client's multiprocess mode keeps every value in a memory-mapped file per
process under PROMETHEUS_MULTIPROC_DIR, and /metrics merges the files of all processes:

1. The parent, before uvicorn starts any worker, calls
   `observability.multiprocess.prepare_multiprocess_dir(path)`. It creates or empties the
   directory and exports PROMETHEUS_MULTIPROC_DIR, which the workers inherit.
2. Ordering: prometheus_client chooses file or memory storage once, when it is first imported.
   The variable must be set before a worker imports prometheus_client, through this module or
   any other. uvicorn spawns its workers as fresh interpreters with the parent's environment, so
   step 1 is enough; importing this module in the parent does no harm. Set too late, the worker
   logs `prometheus_multiproc_dir_ignored` and its /metrics shows that process only.
3. `render_metrics()` builds a fresh registry with a MultiProcessCollector on each scrape. The
   per-process collectors (process_*, python_gc_*) are not exposed then: they describe one
   process, and summing them would be meaningless.
4. Counters and histograms add up every process since step 1, exited ones included: a total
   must not drop when a worker is replaced. Gauges merge as their multiprocess_mode says:
   queue depth and in flight are `livesum` (the service's total); model_status is `livesum`
   (each worker loads its own model, so {status="ready"} counts ready workers, and is one-hot in
   a single process); dependency_check_status is `livemostrecent` (the latest evaluation by any
   live worker, one-hot per check).
5. "live" gauges of an exited worker must be dropped: a worker calls
   `multiprocess.mark_process_dead(os.getpid())` at the end of its lifespan, and
   `render_metrics()` sweeps the files of workers that crashed (uvicorn restarts them silently).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal, Protocol, get_args

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

from roadhazard.observability.multiprocess import MULTIPROC_DIR_ENV, remove_dead_process_files

log = structlog.get_logger(__name__)

Stage = Literal["decode", "preprocess", "infer", "postprocess"]
UploadOutcome = Literal["success", "retry", "failure"]
GeocodingOutcome = Literal["success", "not_found", "cache_hit", "rate_limited", "failure"]
# What became of a frame a WebSocket stream received: answered with detections, replaced by a
# newer frame before inference took it, or answered with an error (bad image, 429, 503...).
StreamFrameOutcome = Literal["processed", "dropped", "failed"]
# Why the service ended a live feed of report events (the client's own leaving is not counted):
# it fell too far behind, the service is shutting down, or it stopped reading.
FeedClosing = Literal["behind", "shutdown", "stalled"]

STAGES: Final[tuple[Stage, ...]] = ("decode", "preprocess", "infer", "postprocess")
MODEL_STATUSES: Final = ("warming", "ready", "error")
CHECK_STATUSES: Final = ("healthy", "degraded", "unhealthy")
UNMATCHED_ROUTE: Final = "unmatched"

# Anything else a client sends as a method would be a new series per spelling.
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_FINE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route template and status class.",
    ["method", "route", "status_class"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to the end of its response body.",
    ["method", "route"],
    buckets=_REQUEST_BUCKETS,
)
INFERENCE_STAGE = Histogram(
    "inference_stage_seconds",
    "Time spent in each stage of the detection pipeline, per image.",
    ["stage"],
    buckets=_FINE_BUCKETS,
)
INFERENCE_QUEUE_DEPTH = Gauge(
    "inference_queue_depth",
    "Detection jobs admitted but waiting for an inference thread.",
    multiprocess_mode="livesum",
)
INFERENCE_IN_FLIGHT = Gauge(
    "inference_in_flight",
    "Detection jobs running on an inference thread.",
    multiprocess_mode="livesum",
)
MODEL_STATUS = Gauge(
    "model_status",
    "1 for the detection model's current status; summed over worker processes.",
    ["status"],
    multiprocess_mode="livesum",
)
EVENT_LOOP_LAG = Histogram(
    "event_loop_lag_seconds",
    "How late the event loop woke a timer; long values mean something blocked the loop.",
    buckets=_FINE_BUCKETS,
)
DEPENDENCY_CHECK_STATUS = Gauge(
    "dependency_check_status",
    "1 for each readiness check's status at its latest evaluation.",
    ["check", "status"],
    multiprocess_mode="livemostrecent",
)
REPORTS_CREATED = Counter("reports_created_total", "Hazard reports created.")
REPORTS_DEDUPLICATED = Counter(
    "reports_deduplicated_total", "Sightings linked to an existing report instead of a new one."
)
REPORT_TRANSITIONS = Counter(
    "report_transitions_total", "Report state changes, by the state entered.", ["state"]
)
IMAGE_UPLOADS = Counter("image_uploads_total", "Image store uploads, by outcome.", ["outcome"])
GEOCODING_REQUESTS = Counter(
    "geocoding_requests_total",
    "Reverse geocoding requests, by provider and outcome.",
    ["provider", "outcome"],
)
STREAM_FRAMES_RECEIVED = Counter(
    "stream_frames_received_total", "Frames received on WebSocket frame streams."
)
STREAM_FRAMES = Counter(
    "stream_frames_total",
    "Frames of WebSocket frame streams by outcome: processed, dropped (a newer frame replaced "
    "it) or failed (answered with an error).",
    ["outcome"],
)
STREAMS_OPEN = Gauge(
    "streams_open", "WebSocket frame streams open now.", multiprocess_mode="livesum"
)
REPORT_FEEDS_OPEN = Gauge(
    "report_feeds_open",
    "Live feeds of report events (GET /v1/reports/events) open now.",
    multiprocess_mode="livesum",
)
REPORT_FEEDS_CLOSED = Counter(
    "report_feeds_closed_total",
    "Live feeds of report events the service ended: behind (a listener's queue filled), "
    "shutdown, or stalled (the client stopped reading).",
    ["reason"],
)

# Bounded label sets are created up front, so their series exist (at 0) before the first event.
_STAGE_HISTOGRAMS = {stage: INFERENCE_STAGE.labels(stage) for stage in STAGES}
for _outcome in get_args(UploadOutcome):
    IMAGE_UPLOADS.labels(_outcome)
_STREAM_OUTCOMES = {
    outcome: STREAM_FRAMES.labels(outcome) for outcome in get_args(StreamFrameOutcome)
}
_FEED_CLOSINGS = {reason: REPORT_FEEDS_CLOSED.labels(reason) for reason in get_args(FeedClosing)}


class StageTimingsMs(Protocol):
    """What detection.engine.StageTimings provides, without importing the detection domain."""

    @property
    def decode_ms(self) -> float: ...
    @property
    def preprocess_ms(self) -> float: ...
    @property
    def inference_ms(self) -> float: ...
    @property
    def postprocess_ms(self) -> float: ...


def record_http_request(method: str, route: str, status_code: int, seconds: float) -> None:
    """`route` is a route template or UNMATCHED_ROUTE, never the request's path."""
    method = method if method in _HTTP_METHODS else "other"
    status_class = f"{status_code // 100}xx" if 100 <= status_code < 600 else "other"
    requests, duration = _http_children(method, route, status_class)
    requests.inc()
    duration.observe(seconds)


@functools.cache
def _http_children(method: str, route: str, status_class: str) -> tuple[Counter, Histogram]:
    # labels() validates and takes the metric's lock on every call; the children never change,
    # and the keys are bounded by routes x methods x status classes.
    return (
        HTTP_REQUESTS.labels(method, route, status_class),
        HTTP_REQUEST_DURATION.labels(method, route),
    )


def observe_stage(stage: Stage, seconds: float) -> None:
    _STAGE_HISTOGRAMS[stage].observe(seconds)


def observe_stage_timings(timings: StageTimingsMs) -> None:
    """Records the four stages of one detect_bytes() call (its timings are milliseconds)."""
    observe_stage("decode", timings.decode_ms / 1000)
    observe_stage("preprocess", timings.preprocess_ms / 1000)
    observe_stage("infer", timings.inference_ms / 1000)
    observe_stage("postprocess", timings.postprocess_ms / 1000)


def set_inference_pool(*, queued: int, in_flight: int) -> None:
    INFERENCE_QUEUE_DEPTH.set(queued)
    INFERENCE_IN_FLIGHT.set(in_flight)


def set_model_status(status: str) -> None:
    """One of MODEL_STATUSES (detection.service.ModelStatus values)."""
    _set_one_hot(MODEL_STATUS, (), status, MODEL_STATUSES)


def set_check_statuses(statuses: Mapping[str, str]) -> None:
    """Check name -> one of CHECK_STATUSES, as the readiness registry just evaluated them."""
    for check, status in statuses.items():
        _set_one_hot(DEPENDENCY_CHECK_STATUS, (check,), status, CHECK_STATUSES)


def _set_one_hot(
    gauge: Gauge, labels: tuple[str, ...], status: str, statuses: tuple[str, ...]
) -> None:
    if status not in statuses:
        raise ValueError(f"unknown status {status!r}; expected one of {statuses}")
    for candidate in statuses:
        gauge.labels(*labels, candidate).set(1 if candidate == status else 0)


def observe_loop_lag(seconds: float) -> None:
    EVENT_LOOP_LAG.observe(seconds)


def count_report_created() -> None:
    REPORTS_CREATED.inc()


def count_report_deduplicated() -> None:
    REPORTS_DEDUPLICATED.inc()


def count_report_transition(state: str) -> None:
    """`state` is the reports.states.ReportState value entered."""
    REPORT_TRANSITIONS.labels(state).inc()


def count_image_upload(outcome: UploadOutcome) -> None:
    IMAGE_UPLOADS.labels(outcome).inc()


def count_geocoding_request(provider: str, outcome: GeocodingOutcome) -> None:
    """`provider` is a fixed name chosen in code, such as "nominatim" or "offline"."""
    GEOCODING_REQUESTS.labels(provider, outcome).inc()


def count_stream_frame_received() -> None:
    STREAM_FRAMES_RECEIVED.inc()


def count_stream_frames(outcome: StreamFrameOutcome, frames: int = 1) -> None:
    _STREAM_OUTCOMES[outcome].inc(frames)


def change_open_streams(change: int) -> None:
    STREAMS_OPEN.inc(change)


def change_open_report_feeds(change: int) -> None:
    REPORT_FEEDS_OPEN.inc(change)


def count_report_feed_closed(reason: FeedClosing) -> None:
    _FEED_CLOSINGS[reason].inc()


def multiprocess_dir() -> Path | None:
    """The directory /metrics merges, or None when this process keeps its values in memory."""
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    return Path(directory) if directory else None


def render_metrics() -> tuple[bytes, str]:
    """The exposition text and its content type. Reads files in multiprocess mode: not on the
    event loop."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    remove_dead_process_files(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


if os.environ.get(MULTIPROC_DIR_ENV) and multiprocess_dir() is None:
    log.warning(
        "prometheus_multiproc_dir_ignored",
        detail=f"{MULTIPROC_DIR_ENV} was set after prometheus_client was imported; "
        "/metrics shows this process only",
    )
