"""`roadhazard serve` as operators stop it: on SIGTERM a stream is still served while the
service announces its shutdown, then told to go away (1001), before uvicorn would close it
with 1012."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.realtime.client import closed, framed, metadata, receive, receive_ready
from tests.sessions.helpers import start
from tests.sessions.scripted import frame_image
from tests.test_serve import serving


@pytest.mark.skipif(sys.platform != "linux", reason="signals and the process model are POSIX")
async def test_sigterm_lets_a_stream_finish_then_tells_it_to_go_away(raw_model: Path) -> None:
    with serving(raw_model, workers=1, announce_s=1.0) as served:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
            session = await start(http)
        url = served.url.replace("http://", "ws://", 1) + f"/v1/sessions/{session}/stream"
        async with connect(url) as ws:
            await receive_ready(ws)
            served.process.send_signal(signal.SIGTERM)
            await ws.send(framed(metadata("after sigterm", 0.0), frame_image(1)))
            answer = await receive(ws)
            code, reason = await closed(ws)
        status = await asyncio.to_thread(served.process.wait, 40)

    assert (answer["type"], answer["frame_id"]) == ("frame", "after sigterm")
    assert (code, reason) == (1001, "the server is shutting down; reconnect")
    # A single uvicorn process raises the SIGTERM again once it has stopped gracefully.
    assert status in (0, -signal.SIGTERM)
