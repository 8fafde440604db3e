"""A stream's bounds: messages over the image limit close it with 1009, and an idle one is
closed (4408) unless the client pings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.realtime.client import closed, framed, metadata, receive, receive_ready
from tests.realtime.live import LiveServer, live_server
from tests.sessions.helpers import session_settings, start
from tests.sessions.scripted import ScriptedBackend, frame_image

MAX_IMAGE_BYTES = 64 * 1024
IDLE_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    settings = session_settings(
        rate_limit_enabled=False,
        max_image_bytes=MAX_IMAGE_BYTES,
        stream_idle_timeout_s=IDLE_TIMEOUT_S,
    )
    with live_server(settings, ScriptedBackend().detector) as live:
        yield live


async def stream(server: LiveServer) -> str:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        return await start(http)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        # Over the image limit: the stream refuses it.
        (framed(metadata(1, 0.0), bytes(MAX_IMAGE_BYTES + 1)), "an image may have at most"),
        # Over the image limit and the metadata allowance: the protocol refuses it unread.
        (bytes(MAX_IMAGE_BYTES + 65 * 1024), "frame with"),
        (json.dumps({"type": "ping", "pad": " " * 5000}), "a text message may have at most"),
    ],
    ids=["image", "message", "text"],
)
async def test_a_message_over_its_limit_closes_the_stream_with_1009(
    server: LiveServer, message: str | bytes, reason: str
) -> None:
    async with connect(server.ws_url(await stream(server)), max_size=None) as ws:
        await receive_ready(ws)
        await ws.send(message)
        code, sent_reason = await closed(ws)

    assert code == 1009
    assert sent_reason is not None
    assert reason in sent_reason


async def test_a_frame_at_the_limit_is_taken(server: LiveServer) -> None:
    image = frame_image(1)
    padded = image + bytes(MAX_IMAGE_BYTES - len(image))  # PNG readers ignore what follows

    async with connect(server.ws_url(await stream(server))) as ws:
        await receive_ready(ws)
        await ws.send(json.dumps({"type": "frame", **metadata("full", 0.0)}))
        await ws.send(padded)
        answer = await receive(ws)

    assert answer["frame_id"] == "full"


async def test_an_idle_stream_is_closed_and_pings_keep_one_open(server: LiveServer) -> None:
    session = await stream(server)
    async with connect(server.ws_url(session)) as idle:
        await receive_ready(idle)
        idle_close = await closed(idle)
    async with connect(server.ws_url(session)) as pinging:
        await receive_ready(pinging)
        # Eight idle timeouts long in all, never one without a message.
        for _ in range(16):
            await pong_after(pinging, IDLE_TIMEOUT_S / 2)
        kept_open = pinging.close_code is None
        pinged_close = await closed(pinging)

    assert idle_close == (4408, f"no message for {IDLE_TIMEOUT_S:g} s")
    assert kept_open
    assert pinged_close[0] == 4408


async def pong_after(ws: ClientConnection, seconds: float) -> None:
    """Stays quiet for `seconds`, in which nothing must come (no close), then pings."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            await ws.recv()
    await ws.send(json.dumps({"type": "ping"}))
    assert (await receive(ws))["type"] == "pong"
