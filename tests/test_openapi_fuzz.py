"""Schemathesis against the app's own OpenAPI document: no 5xx and no answer the document
does not describe (status, content type, body, headers), for every operation, multipart
uploads included.

How it runs. The real app (`create_app` with the test settings and the constant ONNX model,
rate limits off) is served by uvicorn on 127.0.0.1 from a background thread with its lifespan
on, and schemathesis sends its cases over real HTTP (`case.call_and_validate(base_url=...)`).
`schemathesis.openapi.from_asgi` was tried too: it does run the lifespan, but on an event-loop
thread of its own that lives until the interpreter exits (stopping it earlier takes the
undocumented `schemathesis.python.asgi.shutdown_lifespans()`), and an exception escaping a
handler reaches the test as that exception, not as the 500 problem a client gets, which
schemathesis would report as a server error with a curl line to replay it. Over a socket the
app runs as in production: uvicorn parses the requests, starts and stops the lifespan, and
every answer is exactly what a client reads. The embedded Redis lives in a short temporary data
dir, or CI's Redis is used (ROADHAZARD_TEST_REDIS_URL), as `tests.harness.running_app` does it;
a fake Nominatim stands in for the online geocoder, so `/v1/geocode` answers rather than its
documented 503 "not configured".

The document is generated from the routes when the module is imported (no lifespan is needed
for that), so pytest collects one test per operation; schemathesis' lazy
`schemathesis.pytest.from_fixture` would load it from the running app instead, but it breaks
on pytest 9.2 (it sets `Item._nodeid`, which pytest no longer has).
`test_served_schema_is_the_fuzzed_one` checks the running app serves this same document.

Path ids are random, so most cases would only ever meet a 404. Where the generated
`session_id` or `report_id` hashes even, the case is sent for a real session (opened once)
or a real report (filed once from a frame, so it has a detection and both images; DELETE
gets a freshly filed report each time): frames then reach detection and tracking, and the
report's own answers, images and state moves (409 included) are validated too.

Checks: all of schemathesis 4's (`--checks all`): not_a_server_error, the conformance checks
(status code, content type, response schema and headers), missing_required_header,
unsupported_method, allow_header_conformance, ..., and the two that hold the document to be
exactly as strict as the service: `positive_data_acceptance` (every schema-valid request
succeeds) and `negative_data_rejection` (every schema-violating one is refused; 413, for too
many images, counts as refused). What no JSON Schema can say, `_make_usable` gives the
schema-valid cases: bytes that decode as an image, class ids the model has, a cursor the service
issued, an Idempotency-Key not used with another body.

Determinism and time: a fixed seed, derandomized, no example database; the examples and
coverage phases, then MAX_EXAMPLES fuzzed cases per operation. About 20 s on two cores.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import structlog
import uvicorn
from schemathesis.config import SchemathesisConfig

from roadhazard.app import create_app
from roadhazard.reports.listing import encode_cursor
from roadhazard.settings import Settings
from tests.factories import encode_image
from tests.fakes.nominatim import FakeNominatim, FakePlace
from tests.fakes.server import serving
from tests.harness import make_settings, redis_across_restarts

MAX_EXAMPLES = 40
MODEL_CLASSES = 3  # the constant test model's (tests.scene)
IMAGE_BYTES = encode_image()
IMAGE_BASE64 = base64.b64encode(IMAGE_BYTES).decode()
SEED = 20240501
PAST_TIME = "2024-05-01T12:00:00Z"

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "suppress-health-check": ["too_slow"],
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        # Every check, these two included: the document is as strict as the service.
        "checks": {
            "positive_data_acceptance": {"enabled": True},
            "negative_data_rejection": {
                "enabled": True,
                # schemathesis' list and 413: more images than a batch takes are refused so.
                "expected-statuses": [
                    *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422"),
                    *("428", "429", "5xx"),
                ],
            },
        },
        "request-timeout": 30,
    }
)

PLACES = [
    FakePlace(
        place_id=1,
        lat=52.37552,
        lon=4.89629,
        name="Damrak",
        display_name="1, Damrak, Amsterdam, Noord-Holland, 1012 LG, Nederland",
        address={"house_number": "1", "road": "Damrak", "city": "Amsterdam", "country_code": "nl"},
    )
]


@dataclass
class _Serving:
    settings: Settings
    server: uvicorn.Server | None = None
    error: BaseException | None = None

    def run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._serve(sock))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            self.error = exc

    async def _serve(self, sock: socket.socket) -> None:
        # The Redis `running_app` would use: the embedded one, or CI's (emptied before and
        # after); "across restarts" is moot with one app.
        async with redis_across_restarts(self.settings) as settings:
            config = uvicorn.Config(
                create_app(settings),
                lifespan="on",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=5,
            )
            # Off the main thread uvicorn installs no signal handlers.
            self.server = uvicorn.Server(config)
            await self.server.serve(sockets=[sock])


@contextmanager
def _served_with_lifespan(settings: Settings, timeout_s: float = 60.0) -> Iterator[str]:
    """Serves the app under uvicorn, lifespan on, from a thread with its own event loop, on
    127.0.0.1; yields its base URL once the model is loaded. Unlike `tests.fakes.server.serving`
    (lifespan off, for fakes) the app's startup and shutdown run as in production."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    serving_app = _Serving(settings)
    thread = threading.Thread(target=serving_app.run, args=(sock,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        # `started`: the lifespan's startup has completed and the socket listens.
        while serving_app.server is None or not serving_app.server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start") from serving_app.error
            time.sleep(0.01)
        while httpx.get(f"{url}/health").json()["model_status"] != "ready":
            if time.monotonic() > deadline:
                raise RuntimeError("the model did not load")
            time.sleep(0.05)
        yield url
    finally:
        if serving_app.server is not None:
            serving_app.server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    if thread.is_alive():
        raise RuntimeError("the app did not stop")
    if serving_app.error is not None:
        raise serving_app.error


@pytest.fixture(scope="module")
def base_url(raw_model: Path) -> Iterator[str]:
    with (
        # A short path: the embedded Redis listens on a unix socket inside the data dir.
        tempfile.TemporaryDirectory(prefix="rh-") as data_dir,
        serving(FakeNominatim(PLACES).app) as geocoder_url,
    ):
        settings = make_settings(
            model_path=raw_model,
            data_dir=Path(data_dir),
            rate_limit_enabled=False,
            geocoder_url=geocoder_url,
            geocoder_min_interval_s=0,
        )
        with _served_with_lifespan(settings) as url:
            yield url


IdFor = Callable[[str, str], str]
# Path parameters that name no resource: sent as generated (Open311's .json or .xml).
GENERATED = frozenset({"response_format"})


@pytest.fixture(scope="module")
def live_id(base_url: str) -> IdFor:
    """The id of a real resource for a path parameter, by its name and the case's method."""
    with httpx.Client(base_url=base_url) as client:
        opened = client.post("/v1/sessions", json={"source": "dashcam", "device": "fuzz rig"})
        assert opened.status_code == 201, opened.text
        session_id = opened.json()["id"]
        frame = client.post(
            f"/v1/sessions/{session_id}/frames",
            files={"image": ("frame.jpg", encode_image(), "image/jpeg")},
            data={"lat": "52.37552", "lon": "4.89629", "captured_at": "2024-05-01T12:00:00Z"},
        )
        assert frame.status_code == 200, frame.text
        report_id = frame.json()["detections"][0]["hazard"]["report_id"]

    def file_report() -> str:
        filed = httpx.post(
            f"{base_url}/v1/reports", json={"service_code": "D40", "lat": 52.0, "lon": 4.0}
        )
        assert filed.status_code == 201, filed.text
        new_id: str = filed.json()["service_request_id"]
        return new_id

    def id_for(name: str, method: str) -> str:
        if name == "session_id":
            return str(session_id)
        if name == "service_code":  # an Open311 service definition's
            return "D40"
        if method == "DELETE":
            return file_report()
        return str(report_id)

    return id_for


def _openapi_document() -> dict[str, Any]:
    """The app's document, built from its routes alone (no lifespan, no model), so that it is
    known when pytest collects this module; the logging set-up `create_app` does is undone."""
    root = logging.getLogger()
    handlers, level, structlog_config = root.handlers[:], root.level, structlog.get_config()
    try:
        return create_app(make_settings(rate_limit_enabled=False)).openapi()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**structlog_config)


OPENAPI = _openapi_document()
# Left out: the live feed of report events, an answer that never ends while the client stays
# (schemathesis reads a whole body); its refusals and its stream are tested over HTTP in
# tests/realtime/test_report_events.py.
NEVER_ENDING = "/v1/reports/events"
schema = schemathesis.openapi.from_dict(OPENAPI, config=CONFIG).exclude(path=NEVER_ENDING)


def test_served_schema_is_the_fuzzed_one(base_url: str) -> None:
    assert httpx.get(f"{base_url}/openapi.json").json() == OPENAPI


def test_method_not_allowed_names_every_method_of_the_resource(base_url: str) -> None:
    # Three routes serve a report; a concrete path wins over a template, as in OpenAPI; a path
    # the document leaves out keeps Starlette's own header.
    for path, allow in [
        ("/v1/reports/01JX5Q4M3N8W2V7C9B6D1E0F2G", "DELETE, GET, PATCH"),
        ("/v1/reports/stats", "GET"),
        ("/metrics", "GET"),
    ]:
        response = httpx.request("PUT", f"{base_url}{path}")
        assert response.status_code == 405
        assert response.headers["allow"] == allow
        assert response.headers["content-type"] == "application/problem+json"


@schema.parametrize()
def test_api_conforms_to_its_schema(
    case: schemathesis.Case[Any], base_url: str, live_id: IdFor
) -> None:
    # Half the cases, by a hash of the generated case (not a counter, so a shrunk or replayed
    # case gets the same id).
    generated = repr((case.path_parameters, case.query, case.body)).encode()
    if case.path_parameters and zlib.crc32(generated) % 2 == 0:
        # A new mapping: generated cases may share theirs, and a live id (a ULID, new in each
        # run) must not leak into the next case's hash.
        case.path_parameters = {
            name: value if name in GENERATED else live_id(name, case.method.upper())
            for name, value in case.path_parameters.items()
        }
    _make_usable(case)
    case.call_and_validate(base_url=base_url)


def _make_usable(case: schemathesis.Case[Any]) -> None:
    """Gives a schema-valid case what no JSON Schema can say, so that `positive_data_acceptance`
    can hold: an image that decodes (base64, or a file's bytes), class ids the fuzzed model has,
    a cursor this service issued, times it can use, and an Idempotency-Key of its own.
    Schema-violating cases are sent as generated."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    body = case.body
    if isinstance(body, dict) and case.media_type == "application/json":
        _usable_json(body)
    elif isinstance(body, dict):
        _usable_form(body)
    if isinstance(body, dict) and isinstance(body.get("captured_at"), str):
        body["captured_at"] = _usable_time(body["captured_at"])
    if isinstance(case.query, dict):
        _usable_query(case.query)
    # A key names one request: sent again with another body it is a 422, which no schema can
    # foresee. A key from the body's hash replays the stored answer when the case repeats.
    # (case.headers is case-insensitive.)
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"fuzz-{zlib.crc32(repr(body).encode())}"


def _usable_json(body: dict[str, Any]) -> None:
    if isinstance(body.get("image"), str):
        body["image"] = IMAGE_BASE64
    if isinstance(body.get("images"), list):
        body["images"] = [IMAGE_BASE64 for _ in body["images"]]
    if isinstance(body.get("classes"), list):
        body["classes"] = [class_id % MODEL_CLASSES for class_id in body["classes"]]


def _usable_form(form: dict[str, Any]) -> None:
    # A generated file is a few magic bytes (a 1x1 GIF, or none): schema-valid, but no image
    # the service decodes. schemathesis' `Binary` is a str.
    if isinstance(form.get("image"), str | bytes):
        form["image"] = IMAGE_BYTES
    if isinstance(form.get("images"), list):
        form["images"] = [IMAGE_BYTES for _ in form["images"]]
    if isinstance(form.get("classes"), str):
        ids = form["classes"].split(",")
        form["classes"] = ",".join(str(int(class_id) % MODEL_CLASSES) for class_id in ids)


def _usable_time(text: str) -> str:
    # A time before what UTC can express (0001-01-01T00:00:00+14:00) is refused, and a capture
    # time ahead of the service's clock; neither is a JSON Schema rule. (A filter loses nothing
    # by the second.) Leap seconds, which Python does not parse, go too: pydantic refuses them.
    try:
        if datetime.fromisoformat(text).astimezone(UTC) <= datetime.now(UTC):
            return text
    except (ValueError, OverflowError):
        pass
    return PAST_TIME


def _usable_query(query: dict[str, Any]) -> None:
    for name in ("since", "until", "start_date", "end_date"):
        if isinstance(query.get(name), str):
            query[name] = _usable_time(query[name])
    # Open311's start_date and end_date may span at most 90 days, in that order.
    if isinstance(query.get("start_date"), str) and isinstance(query.get("end_date"), str):
        span = datetime.fromisoformat(query["end_date"]) - datetime.fromisoformat(
            query["start_date"]
        )
        if not timedelta(0) <= span <= timedelta(days=90):
            query["end_date"] = query["start_date"]
    # OpenAPI cannot make one query parameter require another, nor order two numbers in one.
    if "near" in query and "radius_m" not in query:
        query["radius_m"] = 100
    if isinstance(query.get("bbox"), str):
        lon1, lat1, lon2, lat2 = query["bbox"].split(",")
        lons, lats = sorted((lon1, lon2), key=float), sorted((lat1, lat2), key=float)
        query["bbox"] = ",".join([lons[0], lats[0], lons[1], lats[1]])
    if isinstance(query.get("cursor"), str):
        order = "oldest" if query.get("sort") == "oldest" else "newest"
        position = (zlib.crc32(query["cursor"].encode()), "01JX5Q4M3N8W2V7C9B6D1E0F2G")
        query["cursor"] = encode_cursor(position, order)
