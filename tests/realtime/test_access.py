"""A stream admits whom POST .../frames admits: a reporter's key (in a header or the first
message, never the URL), for a session that key opened; and counts its frames in the same
rate limit."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.realtime.client import closed, framed, metadata, receive, receive_ready, sync
from tests.realtime.live import LiveServer, live_server
from tests.sessions.helpers import send, session_settings, start
from tests.sessions.scripted import ScriptedBackend, frame_image

REPORTER = "reporter-key-0123456789"
OTHER_REPORTER = "another-reporter-key-98765"
ADMIN = "admin-key-0123456789abcdef"
KEYS = f"reporter:{REPORTER},reporter:{OTHER_REPORTER},admin:{ADMIN}"
IMAGE = frame_image(3)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    settings = session_settings(api_keys=KEYS, rate_limit_enabled=False)
    with live_server(settings, ScriptedBackend().detector) as live:
        yield live


async def session_of(server: LiveServer, key: str) -> str:
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as http:
        return await start(http)


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": REPORTER}, {"Authorization": f"Bearer {REPORTER}"}],
    ids=["x-api-key", "bearer"],
)
async def test_a_key_in_a_header_admits_the_sessions_owner(
    server: LiveServer, headers: dict[str, str]
) -> None:
    session = await session_of(server, REPORTER)

    async with connect(server.ws_url(session), additional_headers=headers) as ws:
        await receive_ready(ws)
        # The same key as the first message is taken too.
        await ws.send(json.dumps({"type": "auth", "api_key": REPORTER}))
        await ws.send(framed(metadata(1, 0.0), IMAGE))
        answer = await receive(ws)

    assert (answer["type"], answer["frame_id"]) == ("frame", 1)


async def test_a_key_in_the_first_message_admits(server: LiveServer) -> None:
    session = await session_of(server, REPORTER)

    async with connect(server.ws_url(session)) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": REPORTER}))
        ready = await receive_ready(ws)
        await ws.send(framed(metadata(1, 0.0), IMAGE))
        answer = await receive(ws)
        # Once admitted, another auth message is refused, and the stream goes on.
        await ws.send(json.dumps({"type": "auth", "api_key": ADMIN}))
        refused = await sync(ws)

    assert ready["session_id"] == session
    assert answer["frame_id"] == 1
    assert [m["problem"]["status"] for m in refused] == [401]


@pytest.mark.parametrize(
    "first",
    [
        json.dumps({"type": "auth", "api_key": "not-a-key-of-this-service"}),
        json.dumps({"type": "frame", **metadata(1, 0.0)}),
        json.dumps({"type": "auth"}),
        "{",
    ],
    ids=["unknown key", "no auth message", "auth without key", "not json"],
)
async def test_without_a_valid_key_the_stream_is_closed_with_1008(
    server: LiveServer, first: str
) -> None:
    session = await session_of(server, REPORTER)

    async with connect(server.ws_url(session)) as ws:
        await ws.send(first)
        error = await receive(ws)
        code, _ = await closed(ws)

    assert (error["problem"]["status"], code) == (401, 1008)


@pytest.mark.parametrize("query", ["?api_key=", "?token=", "?X-API-Key=", "?key="])
async def test_a_key_in_the_url_is_refused_even_with_a_good_header(
    server: LiveServer, query: str
) -> None:
    session = await session_of(server, REPORTER)
    headers = {"X-API-Key": REPORTER}

    async with connect(server.ws_url(session, query + REPORTER), additional_headers=headers) as ws:
        error = await receive(ws)
        code, reason = await closed(ws)

    assert error["problem"]["status"] == 400
    assert "not accepted in the URL" in error["problem"]["detail"]
    assert (code, reason) == (1008, "an API key in the URL")


async def test_another_reporters_session_is_unknown_but_an_admin_may_stream(
    server: LiveServer,
) -> None:
    session = await session_of(server, REPORTER)

    async with connect(
        server.ws_url(session), additional_headers={"X-API-Key": OTHER_REPORTER}
    ) as ws:
        error = await receive(ws)
        code, _ = await closed(ws)
    async with connect(server.ws_url(session), additional_headers={"X-API-Key": ADMIN}) as ws:
        await receive_ready(ws)

    assert (error["problem"]["status"], code) == (404, 4404)


async def test_frames_count_in_the_clients_frames_rate_limit() -> None:
    settings = session_settings(api_keys=KEYS, rate_limit_frames=3)
    with live_server(settings, ScriptedBackend().detector) as server:
        headers = {"X-API-Key": REPORTER}
        async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=30) as http:
            session = await start(http)  # the first request of three
            async with connect(server.ws_url(session), additional_headers=headers) as ws:
                await receive_ready(ws)
                answers = []
                for number in range(3):
                    await ws.send(framed(metadata(number, number * 0.5), IMAGE))
                    answers.append(await receive(ws))
                # The stream stays open, and HTTP shares the budget the stream used up.
                assert await sync(ws) == []
                posted = await send(http, session, 3, 5.0)
            other = await session_of(server, OTHER_REPORTER)  # another key, another budget

    assert [a["type"] for a in answers] == ["frame", "frame", "error"]
    refused = answers[2]
    assert (refused["frame_id"], refused["problem"]["status"]) == (2, 429)
    assert refused["retry_after_s"] >= 1
    assert posted.status_code == 429
    assert other
