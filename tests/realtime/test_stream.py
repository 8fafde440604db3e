"""WS /v1/sessions/{id}/stream over a real connection: the same answers as POST .../frames,
both message forms, refusals that leave the stream open, and the closes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.realtime.client import (
    closed,
    framed,
    metadata,
    receive,
    receive_ready,
    send_two_part,
    sync,
)
from tests.realtime.live import LiveServer, live_server
from tests.sessions.helpers import LAT, LON, send, session_settings, start
from tests.sessions.scripted import ScriptedBackend, Thing, frame_image

SCENE = 1
IMAGE = frame_image(SCENE)
UNKNOWN = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
# Far from the first place: another session's reports there are not its duplicates.
ELSEWHERE = (LAT + 0.5, LON)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    backend = ScriptedBackend(
        {SCENE: [Thing(1, 0.8, 300, 300, 360, 340), Thing(0, 0.4, 0, 0, 50, 50)]}
    )
    settings = session_settings(rate_limit_enabled=False)
    with live_server(settings, backend.detector) as live:
        yield live


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as client:
        yield client


def without_ids(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer as two sessions may share it: without the session's and reports' ids."""
    detections = [
        {**d, "hazard": {k: v for k, v in d["hazard"].items() if k != "report_id"}}
        for d in answer["detections"]
    ]
    return {**answer, "session_id": "-", "detections": detections}


def report_ids(answer: dict[str, Any]) -> list[str]:
    return [d["hazard"]["report_id"] for d in answer["detections"]]


def as_http(answer: dict[str, Any]) -> dict[str, Any]:
    """A stream's answer less what the stream adds to the HTTP body."""
    assert answer["type"] == "frame", answer
    return {k: v for k, v in answer.items() if k not in ("type", "frame_id", "dropped")}


async def test_both_forms_answer_as_post_frames_does(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    by_http = await start(http)
    posted = [(await send(http, by_http, SCENE, t)).json() for t in (0.0, 1.0)]
    by_stream = await start(http)

    async with connect(server.ws_url(by_stream)) as ws:
        ready = await receive_ready(ws)
        await send_two_part(ws, metadata("frame-0", 0.0, ELSEWHERE), IMAGE)
        first = await receive(ws)
        await ws.send(framed(metadata(1, 1.0, ELSEWHERE), IMAGE))
        second = await receive(ws)

    assert ready["session_id"] == by_stream
    assert (first["frame_id"], first["dropped"], second["frame_id"], second["dropped"]) == (
        "frame-0",
        0,
        1,
        0,
    )
    assert [without_ids(as_http(a)) for a in (first, second)] == [without_ids(a) for a in posted]
    # The same tracking outcome: the second frame sees the first one's hazards again.
    assert report_ids(second) == report_ids(first)
    assert report_ids(posted[1]) == report_ids(posted[0])
    assert [d["hazard"]["new"] for d in first["detections"] + second["detections"]] == [
        True,
        True,
        False,
        False,
    ]


async def test_a_stream_continues_what_http_started_in_one_session(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    session = await start(http)
    posted = (await send(http, session, SCENE, 0.0)).json()

    async with connect(server.ws_url(session)) as ws:
        await receive_ready(ws)
        # The very frame HTTP sent (same image, same capture time): its first answer again.
        await send_two_part(ws, metadata("again", 0.0), IMAGE)
        replayed = await receive(ws)
        await send_two_part(ws, metadata("next", 1.0), IMAGE)
        following = await receive(ws)

    assert as_http(replayed) == {**posted, "replayed": True}
    assert report_ids(following) == report_ids(posted)
    assert not any(d["hazard"]["new"] for d in following["detections"])
    stats = (await http.get(f"/v1/sessions/{session}")).json()
    assert (stats["frames"], stats["hazards"]) == (2, 2)


async def test_bad_metadata_is_answered_and_the_stream_goes_on(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    session = await start(http)

    async with connect(server.ws_url(session)) as ws:
        ready = await receive_ready(ws)
        await send_two_part(ws, metadata("bad", 0.0, (91.0, 0.0)), IMAGE)
        error = await receive(ws)
        await send_two_part(ws, metadata("good", 0.5), IMAGE)
        answer = await receive(ws)

    assert error["type"] == "error"
    assert error["frame_id"] == "bad"
    problem = error["problem"]
    assert (problem["status"], problem["request_id"]) == (422, ready["connection_id"])
    assert problem["type"].endswith("/validation-error")
    assert problem["instance"] == f"/v1/sessions/{session}/stream"
    assert [e["loc"] for e in problem["errors"]] == [["body", "lat"]]
    assert (answer["type"], answer["frame_id"], answer["dropped"]) == ("frame", "good", 0)


async def test_an_image_the_detector_cannot_read_is_answered_and_the_stream_goes_on(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    session = await start(http)

    async with connect(server.ws_url(session)) as ws:
        await receive_ready(ws)
        await ws.send(framed(metadata("text", 0.0), b"plain text, not an image"))
        error = await receive(ws)
        await ws.send(framed(metadata("image", 0.5), IMAGE))
        answer = await receive(ws)

    assert (error["frame_id"], error["problem"]["status"]) == ("text", 415)
    assert answer["frame_id"] == "image"


async def test_bad_messages_in_a_row_close_the_stream_with_1008(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    session = await start(http)

    async with connect(server.ws_url(session)) as ws:
        await receive_ready(ws)
        for _ in range(4):
            await ws.send("not json")
        await ws.send(framed(metadata("good", 0.0), IMAGE))  # a good frame resets the count
        first = [await receive(ws) for _ in range(5)]
        for _ in range(4):
            await ws.send(json.dumps({"type": "hello"}))
        second = await sync(ws)
        await ws.send(b"\x00")
        last = await receive(ws)
        code, reason = await closed(ws)

    # The frame's answer comes from inference, so it may arrive after later refusals.
    kinds = sorted((a["type"], a.get("problem", {}).get("status", 0)) for a in first)
    assert kinds == [("error", 400)] * 4 + [("frame", 0)]
    assert [(a["type"], a["problem"]["status"]) for a in second] == [("error", 400)] * 4
    assert last["problem"]["status"] == 400
    assert (code, reason) == (1008, "5 bad messages in a row")


@pytest.mark.parametrize("session_id", [UNKNOWN, "not-a-session"])
async def test_an_unknown_session_closes_with_4404(server: LiveServer, session_id: str) -> None:
    async with connect(server.ws_url(session_id)) as ws:
        error = await receive(ws)
        code, _ = await closed(ws)

    assert (error["problem"]["status"], code) == (404, 4404)


async def test_an_ended_session_closes_with_4410(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    ended = await start(http)
    await http.post(f"/v1/sessions/{ended}/end")
    streaming = await start(http)

    async with connect(server.ws_url(ended)) as ws:
        at_connect = await receive(ws)
        at_connect_close = await closed(ws)
    async with connect(server.ws_url(streaming)) as ws:
        await receive_ready(ws)
        await http.post(f"/v1/sessions/{streaming}/end")
        await ws.send(framed(metadata("late", 0.0), IMAGE))
        mid_stream = await receive(ws)
        mid_stream_close = await closed(ws)

    assert at_connect["problem"]["status"] == 409
    assert at_connect_close == (4410, "the session has ended; start a new one")
    assert (mid_stream["frame_id"], mid_stream["problem"]["status"]) == ("late", 409)
    assert mid_stream_close[0] == 4410


async def test_metrics_count_the_streams_frames(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    before = (await http.get("/metrics")).text
    session = await start(http)

    async with connect(server.ws_url(session)) as ws:
        await receive_ready(ws)
        await ws.send(framed(metadata(1, 0.0), IMAGE))
        await receive(ws)
    after = (await http.get("/metrics")).text

    assert counter(after, "stream_frames_received_total") == (
        counter(before, "stream_frames_received_total") + 1
    )
    processed = 'stream_frames_total{outcome="processed"}'
    assert counter(after, processed) == counter(before, processed) + 1


def counter(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} is not in /metrics")
