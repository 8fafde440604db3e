"""A dashcam: drives a route at ~10 m/s and sends frames with GPS at a fixed rate, in driving
sessions that it ends and restarts every `frames_per_session` frames."""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from throughput.inputs import Image

from .traffic import (
    END,
    FRAMES,
    METRES_PER_DEGREE,
    SESSION,
    START,
    Api,
    Clock,
    KnownReports,
    Spawner,
    iso,
    ticks,
)

# A ring road around central Amsterdam (the offline geocoder knows it): every dashcam drives
# the same circle from its own starting point, half of them the other way round, so that
# sessions pass where others have been and their reports meet the cross-session de-duplication.
CENTRE = (52.3676, 4.9041)
RING_RADIUS_M = 1500.0
SPEED_M_S = 10.0
GPS_JITTER_M = 3.0
BOUNDARY = f"loadtest-{secrets.token_hex(12)}"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    heading: float
    speed: float
    accuracy_m: float


class Route:
    def __init__(self, index: int, count: int, rng: random.Random) -> None:
        self.start_angle = 2 * math.pi * index / max(count, 1)
        self.direction = 1 if index % 2 == 0 else -1
        self.speed = SPEED_M_S * rng.uniform(0.9, 1.1)
        self.rng = rng

    def fix(self, t_s: float) -> Fix:
        angle = self.start_angle + self.direction * self.speed * t_s / RING_RADIUS_M
        north = RING_RADIUS_M * math.cos(angle) + self.rng.gauss(0, GPS_JITTER_M)
        east = RING_RADIUS_M * math.sin(angle) + self.rng.gauss(0, GPS_JITTER_M)
        lat0, lon0 = CENTRE
        # The velocity is tangent to the circle; the heading is its bearing from north.
        v_north, v_east = -math.sin(angle) * self.direction, math.cos(angle) * self.direction
        return Fix(
            lat=lat0 + north / METRES_PER_DEGREE,
            lon=lon0 + east / (METRES_PER_DEGREE * math.cos(math.radians(lat0))),
            heading=math.degrees(math.atan2(v_east, v_north)) % 360,
            speed=max(0.0, self.speed + self.rng.gauss(0, 0.3)),
            accuracy_m=self.rng.uniform(3.0, 8.0),
        )


def multipart(image: Image, fields: dict[str, str]) -> bytes:
    """The frame as multipart/form-data, built directly (cheaper than httpx's encoder)."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; '
        f'filename="{image.name}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
    )
    return b"".join(parts) + image.data + f"\r\n--{BOUNDARY}--\r\n".encode()


class Dashcam:
    def __init__(
        self,
        index: int,
        count: int,
        api: Api,
        spawner: Spawner,
        images: Sequence[Image],
        known: KnownReports,
        clock: Clock,
        *,
        seed: int,
        frames_per_session: int,
        frames_per_image: int,
        stats_every: int,
    ) -> None:
        self.index = index
        self.count = count
        self.api = api
        self.spawner = spawner
        self.images = images
        self.known = known
        self.clock = clock
        self.rng = random.Random(seed * 1000 + index)
        self.route = Route(index, count, self.rng)
        self.frames_per_session = frames_per_session
        self.frames_per_image = frames_per_image
        self.stats_every = stats_every
        self.session_id: str | None = None
        self.session_frames = 0
        self.frames = 0
        self.sessions = 0
        self.in_flight: dict[str, set[asyncio.Task[Any]]] = {}
        self.last_fix: Fix | None = None

    def position(self) -> tuple[str | None, float, float] | None:
        fix = self.last_fix
        return None if fix is None else (self.session_id, fix.lat, fix.lon)

    async def run(self, fps: float) -> None:
        recorder = self.api.recorder
        offset = self.index / (self.count * fps)  # spread the dashcams over a frame interval
        async for scheduled in ticks(recorder, 1 / fps, offset):
            if self.session_id is None or self.session_frames >= self.frames_per_session:
                if not recorder.take():
                    return
                await self._open(scheduled)
                if self.session_id is None:
                    continue  # the start failed (recorded); try again on the next tick
            if not recorder.take():
                return
            self._send_frame(self.session_id, scheduled)
            if self.session_frames % self.stats_every == 0 and recorder.take():
                path = f"/v1/sessions/{self.session_id}"
                self.spawner.spawn(
                    self.api.call(SESSION, "GET", path, scheduled=scheduled, stream="sessions")
                )

    async def _open(self, scheduled: float) -> None:
        body = {"source": "dashcam", "device": f"loadtest dashcam {self.index}"}
        created = await self.api.call(
            START, "POST", "/v1/sessions", scheduled=scheduled, stream="sessions", json=body
        )
        if not isinstance(created, dict):
            return
        old, self.session_id, self.session_frames = self.session_id, created["id"], 0
        self.sessions += 1
        self.in_flight[created["id"]] = set()
        if old is not None:
            self.spawner.spawn(self._end(old))

    def finish(self) -> None:
        """Ends the current session once its frames are answered (outside the budget)."""
        if self.session_id is not None:
            self.spawner.spawn(self._end(self.session_id))
            self.session_id = None

    async def _end(self, session_id: str) -> None:
        # Its frames still in flight first: a frame that arrives after the end gets 409.
        pending = self.in_flight.pop(session_id, set())
        if pending:
            await asyncio.wait(pending)
        self.api.recorder.take(force=True)
        path = f"/v1/sessions/{session_id}/end"
        await self.api.call(END, "POST", path, scheduled=time.monotonic(), stream="")

    def _send_frame(self, session_id: str, scheduled: float) -> None:
        fix = self.route.fix(scheduled - self.clock.mono0)
        self.last_fix = fix
        fields = {
            "lat": f"{fix.lat:.7f}",
            "lon": f"{fix.lon:.7f}",
            "accuracy_m": f"{fix.accuracy_m:.1f}",
            "heading": f"{fix.heading:.1f}",
            "speed": f"{fix.speed:.2f}",
            "captured_at": iso(self.clock.wall(scheduled)),
        }
        shown = self.index + self.frames // self.frames_per_image
        image = self.images[shown % len(self.images)]
        self.frames += 1
        self.session_frames += 1
        task = self.spawner.spawn(self._frame(session_id, multipart(image, fields), scheduled))
        bucket = self.in_flight.setdefault(session_id, set())
        bucket.add(task)
        task.add_done_callback(bucket.discard)

    async def _frame(self, session_id: str, body: bytes, scheduled: float) -> None:
        reply = await self.api.call(
            FRAMES,
            "POST",
            f"/v1/sessions/{session_id}/frames",
            scheduled=scheduled,
            stream="frames",
            content=body,
            headers={"Content-Type": CONTENT_TYPE},
        )
        if isinstance(reply, dict):
            for detection in reply.get("detections", []):
                if detection["hazard"]["new"]:
                    self.known.add(detection["hazard"]["report_id"])
