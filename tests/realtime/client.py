"""A stream's client side for the tests: frames in both forms, and answers read under a
deadline."""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy.typing as npt
from websockets.asyncio.client import ClientConnection

from tests.sessions.helpers import LAT, LON, at
from tests.sessions.scripted import ScriptedBackend, Thing

ANSWER_TIMEOUT_S = 30.0


def metadata(
    frame_id: str | int,
    seconds: float,
    position: tuple[float, float] | None = (LAT, LON),
    **fields: Any,
) -> dict[str, Any]:
    """A frame's metadata as a stream sends it (and as `tests.sessions.helpers.send` posts)."""
    meta: dict[str, Any] = {"frame_id": frame_id, "captured_at": at(seconds), **fields}
    if position is not None:
        meta["lat"], meta["lon"] = position
    return meta


def framed(meta: Mapping[str, Any], image: bytes) -> bytes:
    """The one-message form: the header's length (4 bytes, big-endian), the header, the image."""
    header = json.dumps(dict(meta)).encode()
    return struct.pack(">I", len(header)) + header + image


async def send_two_part(ws: ClientConnection, meta: Mapping[str, Any], image: bytes) -> None:
    await ws.send(json.dumps({"type": "frame", **meta}))
    await ws.send(image)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        message = await ws.recv()
    assert isinstance(message, str), message
    answer: dict[str, Any] = json.loads(message)
    return answer


async def receive_ready(ws: ClientConnection) -> dict[str, Any]:
    ready = await receive(ws)
    assert ready["type"] == "ready", ready
    return ready


async def sync(ws: ClientConnection) -> list[dict[str, Any]]:
    """Pings and returns what came before the pong: the server has read every message sent
    before the ping once it answers (one receiver reads them in order)."""
    await ws.send(json.dumps({"type": "ping"}))
    before = []
    while (message := await receive(ws))["type"] != "pong":
        before.append(message)
    return before


async def closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    """The close code and reason the server sent, once the connection has closed."""
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        await ws.wait_closed()
    return ws.close_code, ws.close_reason


class GatedScript(ScriptedBackend):
    """The scripted detector, each inference held until the test opens `gate`: inference is
    then as slow as the test wants, deterministically."""

    def __init__(self, scenes: Mapping[int, Sequence[Thing]]) -> None:
        super().__init__(scenes)
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Semaphore(0)

    def run(self, tensor: npt.NDArray[Any]) -> npt.NDArray[Any]:
        self.started.release()
        if not self.gate.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        return super().run(tensor)

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.acquire, True, ANSWER_TIMEOUT_S)
