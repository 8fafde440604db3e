"""The open-loop schedule, the HTTP calls and how they are recorded, and the report reader."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .recorder import Recorder

if TYPE_CHECKING:
    import httpx

START = "POST /v1/sessions"
FRAMES = "POST /v1/sessions/{id}/frames"
SESSION = "GET /v1/sessions/{id}"
END = "POST /v1/sessions/{id}/end"
LIST = "GET /v1/reports"
REPORT = "GET /v1/reports/{id}"
STATS = "GET /v1/reports/stats"
ENDPOINTS = (START, FRAMES, SESSION, END, LIST, REPORT, STATS)

# The reader's mix, by weight: the list (with one of the filters below), one report, the stats.
READ_MIX = {LIST: 50, REPORT: 30, STATS: 20}
KNOWN_REPORTS = 500  # the report ids the reader picks from: the latest seen
METRES_PER_DEGREE = 111_320.0
AREA_HALF_M = 250.0  # the reader's bbox: 500 m x 500 m around a dashcam
ERROR_EXAMPLES = 8  # distinct (endpoint, outcome) pairs whose first reply is kept for the report


class Clock:
    """Maps the schedule's monotonic seconds to wall-clock time, for `captured_at`."""

    def __init__(self) -> None:
        self.mono0 = time.monotonic()
        self.wall0 = datetime.now(UTC)

    def wall(self, monotonic: float) -> datetime:
        return self.wall0 + timedelta(seconds=monotonic - self.mono0)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Spawner:
    """Fire-and-forget request tasks that the run can still wait for at the end."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def drain(self, timeout_s: float) -> int:
        """Waits for the tasks in flight; returns how many were still running at the end."""
        deadline = time.monotonic() + timeout_s
        while self.tasks and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(set(self.tasks), timeout=left)
        for task in self.tasks:
            task.cancel()
        return len(self.tasks)


class Api:
    """Sends one request, records its outcome and latency, and returns its JSON when 2xx."""

    def __init__(self, client: httpx.AsyncClient, recorder: Recorder) -> None:
        self.client = client
        self.recorder = recorder
        self.error_examples: dict[str, str] = {}

    async def call(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        scheduled: float,
        stream: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        import httpx

        sent = time.monotonic()
        if stream:  # "" for requests sent when due by design (the sessions' ends)
            self.recorder.late(stream, sent - scheduled)
        response: httpx.Response | None = None
        try:
            response = await self.client.request(
                method, path, params=params, json=json, content=content, headers=headers
            )
            outcome, detail = str(response.status_code), response.text[:300]
        except httpx.HTTPError as exc:
            outcome, detail = type(exc).__name__, str(exc)[:300]
        self.recorder.record(endpoint, outcome, time.monotonic() - sent)
        if response is None or not response.is_success:
            key = f"{endpoint} -> {outcome}"
            if key not in self.error_examples and len(self.error_examples) < ERROR_EXAMPLES:
                self.error_examples[key] = detail
            return None
        try:
            return response.json()
        except ValueError:
            return None


async def ticks(recorder: Recorder, interval_s: float, offset_s: float) -> AsyncIterator[float]:
    """Open-loop schedule: yields each send time (monotonic) on time, whatever the replies do.

    A consumer that falls behind gets the missed times at once (and records the lateness);
    nothing is skipped, so a slow service meets the same offered load.
    """
    due = time.monotonic() + offset_s
    while not recorder.done.is_set():
        delay = due - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(recorder.done.wait(), delay)
                return
            except TimeoutError:
                pass
        yield due
        due += interval_s


class KnownReports:
    """The latest report ids seen in frame replies and lists, for GET /v1/reports/{id}."""

    def __init__(self) -> None:
        self.ids: deque[str] = deque(maxlen=KNOWN_REPORTS)

    def add(self, report_id: str) -> None:
        self.ids.append(report_id)

    def pick(self, rng: random.Random) -> str | None:
        return rng.choice(self.ids) if self.ids else None


Position = Callable[[], tuple[str | None, float, float] | None]


class Reader:
    """A dashboard or maintenance app: report lists with filters, single reports, stats."""

    def __init__(
        self,
        api: Api,
        spawner: Spawner,
        rng: random.Random,
        known: KnownReports,
        positions: list[Position],
    ) -> None:
        self.api = api
        self.spawner = spawner
        self.rng = rng
        self.known = known
        self.positions = positions  # (session id, lat, lon) of each dashcam, when it has one

    async def run(self, reads_per_s: float) -> None:
        recorder = self.api.recorder
        async for scheduled in ticks(recorder, 1 / reads_per_s, 0.5 / reads_per_s):
            if not recorder.take():
                return
            endpoint = self.rng.choices(list(READ_MIX), weights=list(READ_MIX.values()))[0]
            report_id = self.known.pick(self.rng) if endpoint == REPORT else None
            if endpoint == STATS:
                self.spawner.spawn(self._call(STATS, "/v1/reports/stats", scheduled))
            elif report_id is not None:
                self.spawner.spawn(self._call(REPORT, f"/v1/reports/{report_id}", scheduled))
            else:  # a list, or a report read before any report is known
                params = self.list_params()
                self.spawner.spawn(self._call(LIST, "/v1/reports", scheduled, params))

    async def _call(
        self, endpoint: str, path: str, scheduled: float, params: dict[str, str] | None = None
    ) -> None:
        body = await self.api.call(
            endpoint, "GET", path, scheduled=scheduled, stream="reads", params=params
        )
        if endpoint == LIST and isinstance(body, dict):
            for report in body.get("reports", [])[:5]:
                self.known.add(report["service_request_id"])

    def list_params(self) -> dict[str, str]:
        params = {"limit": str(self.rng.choice((10, 20, 50)))}
        here = [p for p in (position() for position in self.positions) if p is not None]
        session_id, lat, lon = self.rng.choice(here) if here else (None, 0.0, 0.0)
        # Areas around where a dashcam is now, small enough to stay under the service's limit
        # on candidates per area search (5,000 reports: a larger area answers 422).
        choice = self.rng.randrange(8)
        if choice == 1 and here:
            params.update(near=f"{lat:.6f},{lon:.6f}", radius_m=str(self.rng.choice((100, 300))))
        elif choice == 2 and here:
            dlat = AREA_HALF_M / METRES_PER_DEGREE
            dlon = dlat / math.cos(math.radians(lat))
            params["bbox"] = f"{lon - dlon:.6f},{lat - dlat:.6f},{lon + dlon:.6f},{lat + dlat:.6f}"
        elif choice == 3:
            params["severity"] = self.rng.choice(("low", "medium", "high"))
        elif choice == 4:
            params.update(service_code=self.rng.choice(("D40", "D50", "D00")), min_confidence="0.5")
        elif choice == 5 and session_id is not None:
            params["session_id"] = session_id
        elif choice == 6:
            since = datetime.now(UTC) - timedelta(minutes=10)
            params.update(since=iso(since), sort="oldest")
        elif choice == 7:
            params.update(status="open", state="new")
        return params
