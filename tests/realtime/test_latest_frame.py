"""Latest frame wins: while inference is held, a burst of frames leaves one pending, the others
are counted as dropped, and only the newest is processed; and shutdown's go-away (1001)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.realtime.client import (
    GatedScript,
    closed,
    framed,
    metadata,
    receive,
    receive_ready,
    sync,
)
from tests.realtime.live import LiveServer, live_server
from tests.sessions.helpers import session_settings, start
from tests.sessions.scripted import Thing, frame_image

SCENE = 2
IMAGE = frame_image(SCENE)
BURST = 12


@pytest.fixture(scope="module")
def backend() -> GatedScript:
    return GatedScript({SCENE: [Thing(2, 0.9, 100, 100, 200, 180)]})


@pytest.fixture(scope="module")
def server(backend: GatedScript) -> Iterator[LiveServer]:
    with live_server(session_settings(rate_limit_enabled=False), backend.detector) as live:
        yield live


@pytest.fixture
async def session(server: LiveServer, backend: GatedScript) -> AsyncIterator[str]:
    backend.gate.set()
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        yield await start(http)
    backend.gate.set()  # whatever the test left held


async def test_a_burst_while_inference_is_held_processes_only_the_newest_frame(
    server: LiveServer, backend: GatedScript, session: str
) -> None:
    backend.gate.clear()
    async with connect(server.ws_url(session)) as ws:
        await receive_ready(ws)
        await ws.send(framed(metadata(0, 0.0), IMAGE))
        await backend.wait_started()
        for number in range(1, BURST + 1):
            await ws.send(framed(metadata(number, number * 0.1), IMAGE))
        # Every frame of the burst has been read: all but the newest were replaced already.
        assert await sync(ws) == []
        backend.gate.set()
        answers = [await receive(ws), await receive(ws)]
        # Nothing else was processed: the next message is the pong.
        assert await sync(ws) == []

    assert [(a["frame_id"], a["dropped"]) for a in answers] == [(0, BURST - 1), (BURST, 0)]
    assert backend.started.acquire(blocking=False)  # the newest frame's inference
    assert not backend.started.acquire(blocking=False)  # and no other


async def test_drops_are_reported_by_the_answer_after_them(
    server: LiveServer, backend: GatedScript, session: str
) -> None:
    async with connect(server.ws_url(session)) as ws:
        await receive_ready(ws)
        backend.gate.clear()
        await ws.send(framed(metadata("a", 0.0), IMAGE))
        await backend.wait_started()
        backend.gate.set()
        first = await receive(ws)
        backend.gate.clear()
        await ws.send(framed(metadata("b", 0.2), IMAGE))
        await backend.wait_started()
        for frame_id, seconds in (("c", 0.4), ("d", 0.6), ("e", 0.8)):
            await ws.send(framed(metadata(frame_id, seconds), IMAGE))
        await sync(ws)
        backend.gate.set()
        later = [await receive(ws), await receive(ws)]
        await backend.wait_started()

    assert (first["frame_id"], first["dropped"]) == ("a", 0)
    # c and d were replaced while b was processed; e, the newest, was processed next.
    assert [(a["frame_id"], a["dropped"]) for a in later] == [("b", 2), ("e", 0)]


async def test_shutdown_answers_the_frame_in_hand_then_closes_with_1001() -> None:
    backend = GatedScript({SCENE: []})
    settings = session_settings(rate_limit_enabled=False)
    with live_server(settings, backend.detector) as server:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
            session = await start(http)
        backend.gate.clear()
        async with connect(server.ws_url(session)) as ws:
            await receive_ready(ws)
            await ws.send(framed(metadata("in hand", 0.0), IMAGE))
            await backend.wait_started()
            await ws.send(framed(metadata("pending", 0.5), IMAGE))
            await sync(ws)

            closing = await server.call(begin(server.state.streams.close_all()))
            backend.gate.set()
            answer = await receive(ws)
            code, reason = await closed(ws)
            await server.call(finish(closing))
            # A stream that opens while the service stops is told to go away at once.
            async with connect(server.ws_url(session)) as late:
                late_close = await closed(late)

    # The pending frame was dropped when the stream began to close.
    assert (answer["frame_id"], answer["dropped"]) == ("in hand", 1)
    assert (code, reason) == (1001, "the server is shutting down; reconnect")
    assert late_close[0] == 1001


async def begin(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Starts `work` and lets it run to its first wait (close_all tells every stream then)."""
    task = asyncio.create_task(work)
    await asyncio.sleep(0)
    return task


async def finish(task: asyncio.Task[None]) -> None:
    await task
