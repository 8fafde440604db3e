"""The event-loop lag monitor: what it measures, what it logs, and whom it names."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Scope

from roadhazard.logging import configure_logging, flush_logs
from roadhazard.observability.in_flight import InFlightRequests
from roadhazard.observability.loop_lag import LoopLagMonitor
from roadhazard.observability.middleware import MetricsMiddleware
from roadhazard.request_context import RequestIdMiddleware
from tests.harness import eventually
from tests.observability.samples import value

LAG_COUNT = "event_loop_lag_seconds_count"


def lags_over_quarter_second() -> float:
    """Observations above 0.25 s: everything minus the bucket that ends there."""
    total = value("event_loop_lag_seconds_bucket", {"le": "+Inf"})
    return total - value("event_loop_lag_seconds_bucket", {"le": "0.25"})


def lag_warnings(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    flush_logs()  # lines are written by the log writer's thread
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    return [line for line in lines if line["event"] == "event_loop_lag"]


def long_lag(warning: dict[str, object]) -> bool:
    lag_ms = warning["lag_ms"]
    return isinstance(lag_ms, float) and lag_ms >= 250


class ScriptedClock:
    """Before/after readings of each tick: the first tick wakes 200 ms late, the rest on time.

    `done` is set with the last reading of tick `ticks`; the monitor records it before yielding.
    """

    def __init__(self, interval_s: float, ticks: int) -> None:
        late = [0.0, interval_s + 0.2]
        on_time = itertools.chain.from_iterable((t, t + interval_s) for t in itertools.count(1))
        self._readings: Iterator[float] = itertools.chain(late, on_time)
        self._left = 2 * ticks
        self.done = asyncio.Event()

    def __call__(self) -> float:
        self._left -= 1
        if self._left == 0:
            self.done.set()
        return next(self._readings)


async def test_a_late_wake_up_is_observed_and_logged(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")
    before = value(LAG_COUNT), lags_over_quarter_second()
    clock = ScriptedClock(0.001, ticks=3)
    monitor = LoopLagMonitor(
        interval_s=0.001, warn_after_s=0.1, clock=clock, in_flight=InFlightRequests()
    )

    monitor.start()
    await asyncio.wait_for(clock.done.wait(), timeout=5)
    await monitor.aclose()

    assert value(LAG_COUNT) - before[0] >= 3
    assert lags_over_quarter_second() == before[1]
    [warning] = lag_warnings(capsys)
    assert warning["lag_ms"] == 200.0
    assert warning["in_flight_request_ids"] == []
    assert warning["level"] == "warning"


async def test_blocking_the_loop_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json")
    before = lags_over_quarter_second()
    monitor = LoopLagMonitor(interval_s=0.01, warn_after_s=0.1)
    monitor.start()
    await asyncio.sleep(0)  # the monitor takes its first reading and goes to sleep

    time.sleep(0.3)  # noqa: ASYNC251 - the blocking call the monitor exists to catch
    await eventually(lambda: lags_over_quarter_second() - before >= 1)
    await monitor.aclose()

    assert [w for w in lag_warnings(capsys) if long_lag(w)]


async def test_the_warning_names_the_requests_in_flight(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json")
    in_flight = InFlightRequests()
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        time.sleep(0.3)  # noqa: ASYNC251 - a handler that blocks the loop, then awaits
        await asyncio.sleep(0.05)
        return {"done": True}

    # Outermost, as the lead will add it: the request id is set further in, and read lazily.
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware, in_flight=in_flight)
    monitor = LoopLagMonitor(interval_s=0.01, warn_after_s=0.1, in_flight=in_flight)
    monitor.start()
    await asyncio.sleep(0)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/slow", headers={"X-Request-ID": "req-slow"})
    await monitor.aclose()

    assert response.status_code == 200
    assert len(in_flight) == 0
    # A loaded machine may add shorter lags of its own; the long one is the handler's.
    warning = next(w for w in lag_warnings(capsys) if long_lag(w))
    assert warning["in_flight_request_ids"] == ["req-slow"]
    assert warning["in_flight"] == 1
    assert "request_id" not in warning


async def test_aclose_stops_the_task_and_a_monitor_starts_once() -> None:
    monitor = LoopLagMonitor(interval_s=0.01)
    monitor.start()
    with pytest.raises(RuntimeError):
        monitor.start()
    await monitor.aclose()
    await monitor.aclose()  # closing twice is harmless

    named = [t for t in asyncio.all_tasks() if t.get_name() == "loop-lag-monitor"]
    assert named == []


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        LoopLagMonitor(interval_s=0)


def test_request_ids_are_capped_and_skip_requests_without_one() -> None:
    in_flight = InFlightRequests()
    scopes: list[Scope] = [{"state": {"request_id": f"r{i}"}} for i in range(8)]
    for scope in [{"state": {}}, *scopes]:
        in_flight.add(scope)
    in_flight.discard(scopes[0])

    assert in_flight.request_ids(limit=5) == ["r1", "r2", "r3", "r4", "r5"]
    assert len(in_flight) == 8
