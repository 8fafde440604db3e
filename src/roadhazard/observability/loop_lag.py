"""Watches the event loop for blocking: a timer that wakes late means the loop was busy.

Every `interval_s` the monitor sleeps and measures how much later than asked it woke. Each lag
goes into event_loop_lag_seconds; one over `warn_after_s` is logged as "event_loop_lag" with the
ids of the oldest requests still in flight when the monitor woke, the likely culprits. A request
that blocked the loop and then finished without awaiting again is gone by then and not named.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable

import structlog

from roadhazard.observability.in_flight import IN_FLIGHT, InFlightRequests
from roadhazard.observability.metrics import observe_loop_lag

log = structlog.get_logger(__name__)


class LoopLagMonitor:
    def __init__(
        self,
        interval_s: float = 0.25,
        warn_after_s: float = 0.1,
        clock: Callable[[], float] = time.perf_counter,
        *,
        in_flight: InFlightRequests = IN_FLIGHT,
        max_request_ids: int = 5,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._interval_s = interval_s
        self._warn_after_s = warn_after_s
        self._clock = clock
        self._in_flight = in_flight
        self._max_request_ids = max_request_ids
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts watching the running loop; call it from the lifespan."""
        if self._task is not None and not self._task.done():
            raise RuntimeError("the loop lag monitor is already running")
        # An empty context: whatever the starter had bound (a request id) is not this task's.
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="loop-lag-monitor", context=contextvars.Context()
        )

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        # gather() still propagates a cancellation of aclose() itself.
        await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            expected = self._clock() + self._interval_s
            await asyncio.sleep(self._interval_s)
            # The loop may wake a hair early, within its clock's resolution.
            self._record(max(0.0, self._clock() - expected))

    def _record(self, lag_s: float) -> None:
        observe_loop_lag(lag_s)
        if lag_s > self._warn_after_s:
            log.warning(
                "event_loop_lag",
                lag_ms=round(lag_s * 1000, 1),
                in_flight=len(self._in_flight),
                in_flight_request_ids=self._in_flight.request_ids(self._max_request_ids),
            )
