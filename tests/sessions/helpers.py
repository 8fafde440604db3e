"""Driving a session over HTTP: frames with injected capture times and positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from roadhazard.settings import Settings
from tests.harness import make_settings
from tests.sessions.scripted import frame_image

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LAT, LON = 52.52, 13.405
METRE_LAT = 1 / 111_320


def session_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"model_warmup_runs": 0}
    return make_settings(**(values | overrides))


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


async def start(client: httpx.AsyncClient, **overrides: Any) -> str:
    body = {"source": "dashcam", "device": "test rig", **overrides}
    response = await client.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    session_id: str = response.json()["id"]
    return session_id


async def send(
    client: httpx.AsyncClient,
    session_id: str,
    scene: int,
    seconds: float,
    *,
    position: tuple[float, float] | None = (LAT, LON),
    **fields: Any,
) -> httpx.Response:
    data = {"captured_at": at(seconds), **{k: str(v) for k, v in fields.items()}}
    if position is not None:
        data["lat"], data["lon"] = str(position[0]), str(position[1])
    return await client.post(
        f"/v1/sessions/{session_id}/frames",
        files={"image": ("frame.png", frame_image(scene), "image/png")},
        data=data,
    )


def report_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [d["hazard"]["report_id"] for d in response.json()["detections"]]
