"""The sessions API over the real app: lifecycle, validation, errors, retries and expiry."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.harness import eventually, running_app
from tests.sessions.helpers import at, report_ids, send, session_settings, start
from tests.sessions.scripted import ScriptedBackend, Thing, frame_image

SCENE = 1
UNKNOWN = "01HZZZZZZZZZZZZZZZZZZZZZZZ"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    backend = ScriptedBackend(
        {SCENE: [Thing(1, 0.8, 300, 300, 360, 340), Thing(0, 0.4, 0, 0, 50, 50)]}
    )
    async with running_app(session_settings(), loader=backend.detector) as (
        client,
        _,
    ):
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_start_returns_a_ulid_and_its_location(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/sessions", json={"source": "mobile", "device": "Pixel 8", "conf": 0.5}
    )

    assert response.status_code == 201
    body = response.json()
    assert len(body["id"]) == 26
    assert body["state"] == "active"
    assert body["idle_ttl_s"] == 3600
    assert response.headers["location"] == f"/v1/sessions/{body['id']}"
    stats = (await client.get(response.headers["location"])).json()
    assert (stats["source"], stats["device"], stats["frames"]) == ("mobile", "Pixel 8", 0)
    assert stats["settings"]["conf"] == 0.5


@pytest.mark.parametrize(
    "body",
    [
        {"device": "x"},
        {"source": "drone", "device": "x"},
        {"source": "dashcam", "device": ""},
        {"source": "dashcam", "device": "x" * 129},
        {"source": "dashcam", "device": "bell\x07"},
        {"source": "dashcam", "device": "x", "conf": 1.5},
        {"source": "dashcam", "device": "x", "track_radius_m": 0},
        {"source": "dashcam", "device": "x", "colour": "red"},
    ],
)
async def test_start_refuses_bad_input(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    assert_problem(await client.post("/v1/sessions", json=body), 422)


async def test_a_frame_answers_detections_with_their_hazards(client: httpx.AsyncClient) -> None:
    session = await start(client)

    response = await send(client, session, SCENE, 0.0, accuracy_m=4, heading=90, speed=8.5)

    body = response.json()
    assert response.status_code == 200, body
    assert body["session_id"] == session
    assert body["image"] == {"width": 640, "height": 480}
    assert body["captured_at"] == "2024-05-01T12:00:00Z"
    assert body["replayed"] is False
    pothole, crack = body["detections"]
    assert pothole["hazard"] | {"report_id": "-"} == {
        "report_id": "-",
        "new": True,
        "code": "D40",
        "label": "Pothole",
        "severity": "high",
    }
    assert pothole["box"] == {"x1": 300.0, "y1": 300.0, "x2": 360.0, "y2": 340.0}
    assert crack["hazard"]["code"] == "D00"
    assert pothole["hazard"]["report_id"] != crack["hazard"]["report_id"]


async def test_a_json_frame_and_session_thresholds(client: httpx.AsyncClient) -> None:
    session = await start(client, conf=0.5)
    encoded = base64.b64encode(frame_image(SCENE)).decode()

    response = await client.post(
        f"/v1/sessions/{session}/frames",
        json={"image": encoded, "lat": 52.5, "lon": 13.4, "captured_at": at(1)},
    )

    assert response.status_code == 200, response.text
    assert [d["class_name"] for d in response.json()["detections"]] == ["D40"]


async def test_a_retried_frame_is_answered_again_but_counted_once(
    client: httpx.AsyncClient,
) -> None:
    session = await start(client)

    first = await send(client, session, SCENE, 0.0)
    retry = await send(client, session, SCENE, 0.0)

    assert retry.json()["replayed"] is True
    assert report_ids(retry) == report_ids(first)
    stats = (await client.get(f"/v1/sessions/{session}")).json()
    assert (stats["frames"], stats["detections"], stats["hazards"]) == (1, 2, 2)


async def test_end_returns_the_summary_and_refuses_later_frames(
    client: httpx.AsyncClient,
) -> None:
    session = await start(client)
    for i in range(3):
        await send(client, session, SCENE, i * 0.5)

    ended = await client.post(f"/v1/sessions/{session}/end")
    again = await client.post(f"/v1/sessions/{session}/end")
    late = await send(client, session, SCENE, 2.0)

    summary = ended.json()
    assert ended.status_code == 200
    assert summary["state"] == "ended"
    assert (summary["frames"], summary["detections"], summary["hazards"]) == (3, 6, 2)
    assert summary["hazards_by_class"] == {"D00": 1, "D40": 1}
    assert summary["duration_s"] == 1.0
    assert summary["first_frame_at"] == "2024-05-01T12:00:00Z"
    assert summary["ended_at"] is not None
    assert again.json() == summary
    assert_problem(late, 409)


@pytest.mark.parametrize("session_id", [UNKNOWN, "not-a-ulid", "x" * 300, "{tag}"])
async def test_unknown_sessions_are_404(client: httpx.AsyncClient, session_id: str) -> None:
    assert_problem(await client.get(f"/v1/sessions/{session_id}"), 404)
    assert_problem(await client.post(f"/v1/sessions/{session_id}/end"), 404)
    assert_problem(await send(client, session_id, SCENE, 0.0), 404)


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"lat": "91", "lon": "0"}, "lat"),
        ({"lat": "0", "lon": "-180.5"}, "lon"),
        ({"lat": "north", "lon": "0"}, "lat"),
        ({"lat": "10"}, "body"),
        ({"accuracy_m": "5"}, "body"),
        ({"lat": "0", "lon": "0", "accuracy_m": "-1"}, "accuracy_m"),
        ({"heading": "361"}, "heading"),
        ({"speed": "-2"}, "speed"),
        ({"captured_at": "2024-05-01T12:00:00"}, "captured_at"),
        ({"captured_at": "yesterday"}, "captured_at"),
        ({"captured_at": "2999-01-01T00:00:00Z"}, "captured_at"),
        ({"altitude": "3"}, "altitude"),
    ],
)
async def test_bad_frame_metadata_is_422(
    client: httpx.AsyncClient, fields: dict[str, str], where: str
) -> None:
    session = await start(client)
    response = await client.post(
        f"/v1/sessions/{session}/frames",
        files={"image": ("f.png", frame_image(SCENE), "image/png")},
        data=fields,
    )

    body = assert_problem(response, 422)
    assert any(where in error["loc"] for error in body["errors"]), body


async def test_a_frame_without_an_image_is_400(client: httpx.AsyncClient) -> None:
    session = await start(client)

    response = await client.post(f"/v1/sessions/{session}/frames", json={"lat": 1, "lon": 2})

    assert_problem(response, 400)


async def test_an_idle_session_expires() -> None:
    backend = ScriptedBackend({SCENE: [Thing(1, 0.8, 300, 300, 360, 340)]})
    settings = session_settings(session_idle_ttl_s=1)
    async with running_app(settings, loader=backend.detector) as (client, resources):
        session = await start(client)
        assert (await send(client, session, SCENE, 0.0)).status_code == 200

        # Redis's own clock expires the keys; nothing to inject.
        async def expired() -> bool:
            return (await client.get(f"/v1/sessions/{session}")).status_code == 404

        await eventually(expired, poll_s=0.1)
        assert_problem(await client.get(f"/v1/sessions/{session}"), 404)
        assert_problem(await send(client, session, SCENE, 0.2), 404)
        left = [key async for key in resources.redis.scan_iter(match=f"rh:{{session:{session}}}*")]
        assert left == []
