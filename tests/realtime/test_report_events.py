"""GET /v1/reports/events across worker processes: two `roadhazard serve` processes share one
Redis (a redis-server of this module's, or CI's); a client listens to one while reports are
filed and changed through the other. Resuming with Last-Event-ID, the reset of a client too
far behind, the list's filters, heartbeats, refusals. Every read has a deadline; nothing sleeps.

Each test files its reports at a place of its own, and listens to that place only (`bbox`), so
the tests sharing the servers never hear each other's events.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import redis as sync_redis
from roadhazard.redis import create_client, find_redis_server
from roadhazard.reports import keys
from roadhazard.reports.models import GeoPoint
from roadhazard.reports.store import ReportStore
from tests.harness import EXTERNAL_REDIS_URL
from tests.realtime.sse_client import EventReader, about
from tests.reports.seeding import seed, seeded_report
from tests.test_serve import serving

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="processes and unix sockets")

MAX_LEN = 100  # the servers' ROADHAZARD_EVENTS_MAX_LEN, the least it may be
_places = count()


@pytest.fixture(scope="module")
def shared_redis() -> Iterator[str]:
    """CI's Redis (emptied before and after), else a redis-server on a unix socket."""
    if EXTERNAL_REDIS_URL is not None:
        client = sync_redis.Redis.from_url(EXTERNAL_REDIS_URL, socket_timeout=5)
        client.flushdb()
        try:
            yield EXTERNAL_REDIS_URL
        finally:
            client.flushdb()
            client.close()
        return
    executable = find_redis_server()
    if executable is None:
        pytest.skip("no redis-server to start")
    with tempfile.TemporaryDirectory(prefix="rh-") as directory:
        socket_path = Path(directory) / "redis.sock"
        options = ["--port", "0", "--unixsocket", str(socket_path), "--save", "", "--dir"]
        process = subprocess.Popen(
            [str(executable), *options, directory],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"unix://{socket_path}"
            _wait_for_redis(url)
            yield url
        finally:
            process.kill()
            process.wait(timeout=10)


def _wait_for_redis(url: str) -> None:
    deadline = time.monotonic() + 30
    client = sync_redis.Redis.from_url(url, socket_timeout=1)
    try:
        while True:
            try:
                if client.ping():
                    return
            except sync_redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.close()


@dataclass(frozen=True)
class Pair:
    listening: str  # the URL of the process a client listens to
    filing: str  # the other one's
    redis_url: str


@pytest.fixture(scope="module")
def pair(raw_model: Path, shared_redis: str) -> Iterator[Pair]:
    env = {
        "ROADHAZARD_RATE_LIMIT_ENABLED": "false",
        "ROADHAZARD_MODEL_WARMUP_RUNS": "0",
        "ROADHAZARD_EVENTS_HEARTBEAT_S": "0.2",
        "ROADHAZARD_EVENTS_MAX_LEN": str(MAX_LEN),
    }
    common: dict[str, Any] = {"workers": 1, "announce_s": 0, "extra_env": env}
    with (
        serving(raw_model, redis_url=shared_redis, **common) as one,
        serving(raw_model, redis_url=shared_redis, **common) as other,
    ):
        yield Pair(one.url, other.url, shared_redis)


def _place() -> tuple[GeoPoint, str]:
    """A place no other test uses, and the bbox around it."""
    n = next(_places)
    point = GeoPoint(10.0 + n, 20.0 + n)
    return point, f"{point.lon - 0.1},{point.lat - 0.1},{point.lon + 0.1},{point.lat + 0.1}"


async def _file(url: str, point: GeoPoint, code: str = "D40") -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        filed = await http.post(
            "/v1/reports", json={"service_code": code, "lat": point.lat, "lon": point.lon}
        )
    assert filed.status_code == 201, filed.text
    report_id: str = filed.json()["service_request_id"]
    return report_id


@asynccontextmanager
async def _listening(
    url: str, *, last_event_id: str | None = None, **params: str
) -> AsyncIterator[EventReader]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with (
        httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(30, read=30)) as http,
        http.stream("GET", "/v1/reports/events", params=params, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = EventReader(response)
        # The opening: the listener is registered once it is sent.
        opening = await reader.next()
        assert (opening.retry, opening.comments) == (3000, ["connected"])
        yield reader


async def test_a_report_filed_through_one_process_is_heard_on_the_other(pair: Pair) -> None:
    point, bbox = _place()
    async with _listening(pair.listening, bbox=bbox) as reader:
        assert await _gauge(pair.listening, "report_feeds_open") >= 1
        report_id = await _file(pair.filing, point)
        (event,) = await reader.until(about(report_id))

    assert event.id is not None
    assert event.data == {
        "type": "report.created",
        "report_id": report_id,
        "service_code": "D40",
        "state": "new",
        "lat": point.lat,
        "lon": point.lon,
        "at": event.data["at"] if event.data else None,
    }


async def test_state_changes_and_duplicates_are_heard(pair: Pair) -> None:
    point, bbox = _place()
    async with _listening(pair.listening, bbox=bbox) as reader:
        first = await _file(pair.filing, point)
        # The same place again: a duplicate of the first.
        second = await _file(pair.filing, point)
        async with httpx.AsyncClient(base_url=pair.filing, timeout=30) as http:
            assert (await http.post(f"/v1/reports/{first}/confirm")).status_code == 200
        heard = await reader.until(
            lambda m: m.report_id == first and "state" in (m.data or {}).get("changes", [])
        )

    # Each report's address is looked up meanwhile (another update: none is found here).
    events = [e for e in heard if "address" not in (e.data or {}).get("changes", [])]
    assert [(e.event, e.report_id) for e in events] == [
        ("report.created", first),
        ("report.duplicate", second),
        ("report.updated", first),
    ]
    assert events[1].data is not None
    assert events[1].data["duplicate_of"] == first
    assert events[2].data is not None
    assert events[2].data["changes"] == ["state"]
    assert (events[2].data["previous_state"], events[2].data["state"]) == ("new", "confirmed")


async def test_a_client_that_reconnects_with_last_event_id_misses_nothing(pair: Pair) -> None:
    point, bbox = _place()
    seen_id = await _last_seen(pair, point, bbox)
    # Filed while nobody listens, through the other process.
    missed = [await _file(pair.filing, point, code) for code in ("D10", "D20", "D50")]

    async with _listening(pair.listening, last_event_id=seen_id, bbox=bbox) as reader:
        replayed = await reader.until(about(missed[-1]))
        live = await _file(pair.filing, point, "D00")
        after = await reader.until(about(live))

    heard = [e.id for e in [*replayed, *after]]
    # Exactly the stream's events in the box after the last one seen, up to the live one:
    # nothing twice, nothing lost, in order.
    assert heard == _events_in_stream(pair.redis_url, after=seen_id, until=heard[-1], box=point)
    created = [e.report_id for e in [*replayed, *after] if e.event == "report.created"]
    assert created == [*missed, live]


async def _last_seen(pair: Pair, point: GeoPoint, bbox: str) -> str:
    """The id of the event of a report filed at `point`, as a listener hears it."""
    async with _listening(pair.listening, bbox=bbox) as reader:
        first = await _file(pair.filing, point)
        (seen,) = await reader.until(about(first))
    assert seen.id is not None
    return seen.id


def _events_in_stream(
    redis_url: str, *, after: str, until: str | None, box: GeoPoint
) -> list[str | None]:
    """The ids of the events about reports within 0.1 degree of `box`, read from Redis."""
    client = sync_redis.Redis.from_url(redis_url, socket_timeout=5, decode_responses=True)
    try:
        entries = cast(
            list[tuple[str, dict[str, str]]],
            client.xrange(keys.REPORT_EVENTS, f"({after}", until or "+"),
        )
    finally:
        client.close()
    return [
        entry_id
        for entry_id, fields in entries
        if fields["lat"]
        and abs(float(fields["lat"]) - box.lat) < 0.1
        and abs(float(fields["lon"]) - box.lon) < 0.1
    ]


async def test_a_client_too_far_behind_is_told_to_reload_then_goes_on(pair: Pair) -> None:
    point, bbox = _place()
    seen_id = await _last_seen(pair, point, bbox)
    # Far more events than the stream keeps, elsewhere.
    client = create_client(pair.redis_url, socket_timeout_s=10, connect_timeout_s=5, retries=1)
    try:
        store = ReportStore(client, events_max_len=MAX_LEN)
        await seed(store, [seeded_report(n, location=None) for n in range(5 * MAX_LEN)], 250)
    finally:
        await client.aclose()

    async with _listening(pair.listening, last_event_id=seen_id, bbox=bbox) as reader:
        reset = await reader.event()
        live = await _file(pair.filing, point, "D10")
        after = await reader.until(about(live))
    assert reset.event == "reset"
    assert reset.data is not None
    assert reset.data["reason"] == "too_far_behind"
    assert reset.id is not None
    assert [e.report_id for e in after] == [live]
    assert after[0].id is not None
    assert _order(reset.id) < _order(after[0].id)

    # An id the stream never had (ahead of it) is no place to resume from either.
    async with _listening(pair.listening, last_event_id="99999999999999-0", bbox=bbox) as reader:
        unknown = await reader.event()
    assert unknown.data is not None
    assert (unknown.event, unknown.data["reason"]) == ("reset", "unknown_id")


async def test_filters_are_the_lists(pair: Pair) -> None:
    point, bbox = _place()
    elsewhere, _ = _place()
    async with (
        _listening(pair.listening, bbox=bbox, service_code="D50") as by_class,
        _listening(pair.listening, bbox=bbox, state="confirmed") as by_state,
    ):
        await _file(pair.filing, elsewhere, "D50")  # outside the box
        await _file(pair.filing, point, "D40")  # another class, and new
        wanted = await _file(pair.filing, point, "D50")
        heard = await by_class.until(about(wanted))
        async with httpx.AsyncClient(base_url=pair.filing, timeout=30) as http:
            assert (await http.post(f"/v1/reports/{wanted}/confirm")).status_code == 200
            assert (await http.post(f"/v1/reports/{wanted}/start")).status_code == 200
        # Into the state, and out of it again: both concern it.
        confirmed = await by_state.until(
            lambda m: m.report_id == wanted and (m.data or {}).get("state") == "in_progress"
        )
    assert [e.report_id for e in heard] == [wanted]
    assert [(e.data or {}).get("state") for e in confirmed] == ["confirmed", "in_progress"]


async def test_a_quiet_feed_sends_heartbeats(pair: Pair) -> None:
    _, bbox = _place()
    async with _listening(pair.listening, bbox=bbox) as reader:
        beats = [await reader.next(timeout_s=10) for _ in range(3)]
    assert all(beat.comments == ["heartbeat"] and beat.event is None for beat in beats)


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"bbox": "10,10,5,5"}, {}),
        ({"state": "lost"}, {}),
        ({}, {"Last-Event-ID": "yesterday"}),
    ],
)
async def test_bad_input_is_a_problem_with_a_request_id(
    pair: Pair, params: dict[str, str], headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=pair.listening, timeout=30) as http:
        response = await http.get("/v1/reports/events", params=params, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["request_id"]


def _order(event_id: str) -> tuple[int, int]:
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


async def _gauge(url: str, name: str) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        text = (await http.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def test_sigterm_ends_the_feed_before_the_server_stops(raw_model: Path) -> None:
    async def listen_then_stop(url: str, process: subprocess.Popen[bytes]) -> float:
        async with _listening(url) as reader:
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            with pytest.raises(EOFError):
                await reader.to_the_end()
            return time.monotonic() - started

    with serving(raw_model, workers=1, announce_s=1.0) as served:
        ended_after = asyncio.run(listen_then_stop(served.url, served.process))
        status = served.process.wait(40)
    # Ended by the handover after the announcement, not cut by uvicorn's graceful timeout.
    assert ended_after < 15
    assert status in (0, -signal.SIGTERM)
