"""Coverage over the real app: frames with GPS become scanned cells (GET /v1/coverage) and a
track (GET /v1/sessions/{id}/track); bad input is a problem, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.coverage.tracks import STREET, STREET_BOX, centre
from tests.harness import running_app
from tests.sessions.helpers import session_settings, start
from tests.sessions.scripted import ScriptedBackend, frame_image

BOX = ",".join(map(str, STREET_BOX))
UNKNOWN = "01HZZZZZZZZZZZZZZZZZZZZZZZ"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(session_settings(), loader=ScriptedBackend().detector) as (
        client,
        _,
    ):
        yield client


async def send_at(
    client: httpx.AsyncClient, session_id: str, cell: str, captured_at: datetime
) -> None:
    lat, lon = centre(cell)
    data = {"captured_at": captured_at.isoformat(), "lat": lat, "lon": lon, "heading": 90}
    response = await client.post(
        f"/v1/sessions/{session_id}/frames",
        files={"image": ("frame.png", frame_image(0), "image/png")},
        data={k: str(v) for k, v in data.items()},
    )
    assert response.status_code == 200, response.text


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["request_id"]
    return body


async def test_a_drive_shows_as_cells_and_as_a_track(client: httpx.AsyncClient) -> None:
    session_id = await start(client)
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    for step, cell in enumerate(STREET[:3]):
        await send_at(client, session_id, cell, first + timedelta(seconds=10 * step))

    coverage = await client.get("/v1/coverage", params={"bbox": BOX})
    track = await client.get(f"/v1/sessions/{session_id}/track")

    assert coverage.status_code == 200
    assert coverage.headers["content-type"] == "application/geo+json"
    body = coverage.json()
    assert (body["type"], body["precision"], body["max_cells"]) == ("FeatureCollection", 7, 1024)
    cells = {f["properties"]["cell"]: f for f in body["features"]}
    assert sorted(cells) == sorted(STREET[:3])
    first_cell = cells[STREET[0]]
    assert first_cell["properties"] == {
        "cell": STREET[0],
        "last_scanned_at": first.isoformat().replace("+00:00", "Z"),
        "passes": 1,
        "sessions": [session_id],
    }
    ring = first_cell["geometry"]["coordinates"][0]
    assert first_cell["geometry"]["type"] == "Polygon"
    assert len(ring) == 5
    assert ring[0] == ring[-1]
    # Counterclockwise (RFC 7946): east along the south edge, then north.
    assert ring[1][0] > ring[0][0]
    assert ring[2][1] > ring[1][1]

    assert track.status_code == 200
    line = track.json()
    assert line["type"] == "Feature"
    assert line["geometry"]["type"] == "LineString"
    # Three points on one parallel: the line needs only its ends (kept to a micro-degree).
    assert [tuple(p) for p in line["geometry"]["coordinates"]] == [
        tuple(round(v, 6) for v in reversed(centre(cell))) for cell in (STREET[0], STREET[2])
    ]
    assert line["properties"]["points"] == 3


async def test_since_after_the_drive_shows_nothing(client: httpx.AsyncClient) -> None:
    session_id = await start(client)
    await send_at(client, session_id, STREET[0], datetime.now(UTC) - timedelta(minutes=3))

    later = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    answer = await client.get("/v1/coverage", params={"bbox": BOX, "since": later})

    assert answer.json()["features"] == []


async def test_a_session_without_located_frames_has_no_line(client: httpx.AsyncClient) -> None:
    session_id = await start(client)

    line = (await client.get(f"/v1/sessions/{session_id}/track")).json()

    assert line["geometry"] is None
    assert line["properties"]["points"] == 0


@pytest.mark.parametrize(
    "bbox",
    ["13.41,52.5,13.40,52.52", "13.4,52.5,13.41", "13.4,86,13.41,87", "200,52.5,201,52.6", ""],
)
async def test_a_bad_box_is_a_problem(client: httpx.AsyncClient, bbox: str) -> None:
    assert_problem(await client.get("/v1/coverage", params={"bbox": bbox}), 422)


async def test_the_box_is_required(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/coverage"), 422)


async def test_an_unknown_session_has_no_track(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"/v1/sessions/{UNKNOWN}/track"), 404)
    assert_problem(await client.get("/v1/sessions/not-a-ulid/track"), 404)
