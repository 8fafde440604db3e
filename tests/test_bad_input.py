"""Hostile input over HTTP, through the real app: each request is a 4xx problem, never a 500.

Every case here answered 500 once (an exception escaped a handler); the answers must stay
problem+json with the request id, and never echo more than a bounded part of the input.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import scene
from tests.detection.test_router import assert_problem
from tests.factories import encode_image
from tests.harness import make_settings, running_app

JPEG = encode_image(scene.IMAGE_SIZE)


def nested_json(depth: int) -> bytes:
    return b'{"image": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.fixture
async def client(raw_model: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(model_path=raw_model, model_warmup_runs=0)) as (
        client,
        _,
    ):
        yield client


@pytest.fixture
async def session_id(client: httpx.AsyncClient) -> str:
    opened = await client.post("/v1/sessions", json={"source": "dashcam", "device": "rig"})
    assert opened.status_code == 201, opened.text
    value: str = opened.json()["id"]
    return value


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width`x`height` pixels: Pillow refuses it as a decompression bomb
    from its header alone, so the pixels need not exist."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "query",
    [
        {"near": "89,0", "radius_m": "100"},
        {"near": "-89.9,10", "radius_m": "100"},
        {"bbox": "0,86,1,89"},
        {"near": "nan,0", "radius_m": "100"},
        {"bbox": "0,0,inf,1"},
    ],
)
async def test_areas_beyond_the_geo_index_are_refused(
    client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    body = assert_problem(await client.get("/v1/reports", params=query), 422)
    # Refused by the document's pattern, before the service's own check of the same limit.
    assert body["errors"][0]["loc"][0] == "query"


async def test_an_area_at_the_index_limit_is_searched(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/reports", params={"bbox": "0,80,1,85.0509"})
    assert response.status_code == 200, response.text
    assert response.json()["reports"] == []


async def test_a_decompression_bomb_report_is_413_as_multipart_and_base64(
    client: httpx.AsyncClient,
) -> None:
    bomb = png_header(20_000, 20_000)
    fields = {"service_code": "D40", "lat": "52.0", "lon": "4.0"}
    multipart = await client.post(
        "/v1/reports", data=fields, files={"image": ("bomb.png", bomb, "image/png")}
    )
    as_json = await client.post(
        "/v1/reports",
        json={
            "service_code": "D40",
            "lat": 52.0,
            "lon": 4.0,
            "image": base64.b64encode(bomb).decode(),
        },
    )
    detected = await client.post("/v1/detect", files={"image": ("bomb.png", bomb, "image/png")})
    for response in (multipart, as_json, detected):
        assert "pixels" in assert_problem(response, 413)["detail"]


# 5,000 deep passes the count of JSON tokens and overflows the parser's recursion limit;
# 10,000 deep (the reported body) is refused by the count before parsing.
@pytest.mark.parametrize("depth", [5_000, 10_000])
async def test_deeply_nested_json_is_a_400_everywhere(
    client: httpx.AsyncClient, session_id: str, depth: int
) -> None:
    for path in (
        "/v1/detect",
        "/v1/detect/batch",
        "/v1/reports",
        f"/v1/sessions/{session_id}/frames",
    ):
        response = await client.post(
            path, content=nested_json(depth), headers={"content-type": "application/json"}
        )
        assert_problem(response, 400)


@pytest.mark.parametrize("classes", ["1" * 30, "0," + "9" * 30, "3"])
async def test_class_ids_beyond_the_model_are_refused(
    client: httpx.AsyncClient, classes: str
) -> None:
    # The constant test model has three classes (0, 1, 2).
    image = base64.b64encode(JPEG).decode()
    as_form = await client.post(
        "/v1/detect", files={"image": ("road.jpg", JPEG, "image/jpeg")}, data={"classes": classes}
    )
    as_json = await client.post(
        "/v1/detect", json={"image": image, "classes": [int(c) for c in classes.split(",")]}
    )
    for response in (as_form, as_json):
        body = assert_problem(response, 422)
        assert body["errors"][0]["loc"][:2] == ["body", "classes"]


async def test_known_class_ids_still_filter(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/detect", files={"image": ("road.jpg", JPEG, "image/jpeg")}, data={"classes": "1,2"}
    )
    assert response.status_code == 200, response.text
    assert [d["class_id"] for d in response.json()["detections"]] == [1, 2]


async def test_a_capture_time_that_cannot_be_converted_to_utc_is_422(
    client: httpx.AsyncClient, session_id: str
) -> None:
    response = await client.post(
        f"/v1/sessions/{session_id}/frames",
        files={"image": ("frame.jpg", JPEG, "image/jpeg")},
        data={"captured_at": "0001-01-01T00:00:00+14:00"},
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "captured_at"]


@pytest.mark.parametrize(
    ("field", "value"), [("accuracy_m", "inf"), ("speed", "inf"), ("heading", "nan")]
)
async def test_non_finite_frame_numbers_are_refused(
    client: httpx.AsyncClient, session_id: str, field: str, value: str
) -> None:
    fields = {"lat": "52.0", "lon": "4.0", field: value}
    as_form = await client.post(
        f"/v1/sessions/{session_id}/frames",
        files={"image": ("frame.jpg", JPEG, "image/jpeg")},
        data=fields,
    )
    # Python's json module reads the non-standard literals Infinity and NaN.
    literal = {"inf": "Infinity", "nan": "NaN"}[value]
    image = base64.b64encode(JPEG).decode()
    as_json = await client.post(
        f"/v1/sessions/{session_id}/frames",
        content=f'{{"image": "{image}", "lat": 52.0, "lon": 4.0, "{field}": {literal}}}',
        headers={"content-type": "application/json"},
    )
    assert assert_problem(as_form, 422)["errors"][0]["loc"] == ["body", field]
    # Neither literal is JSON (RFC 8259), so the body is not JSON at all.
    assert "not valid JSON" in assert_problem(as_json, 400)["detail"]


async def test_a_non_finite_report_accuracy_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/reports",
        data={"service_code": "D40", "lat": "52.0", "lon": "4.0", "accuracy_m": "inf"},
        files={"image": ("road.jpg", JPEG, "image/jpeg")},
    )
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "accuracy_m"]


@pytest.mark.parametrize(
    "body", [{"iou": False}, {"conf": "0.5"}, {"max_det": 2.5}, {"max_det": "2"}, {"max_det": True}]
)
async def test_json_numbers_are_strict(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    image = base64.b64encode(JPEG).decode()
    response = await client.post("/v1/detect", json={"image": image, **body})
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", *body]


async def test_json_integers_are_numbers_and_form_text_is_parsed(
    client: httpx.AsyncClient,
) -> None:
    image = base64.b64encode(JPEG).decode()
    # JSON Schema's `integer` counts 1.0 as one, and so does the service.
    as_json = await client.post(
        "/v1/detect", json={"image": image, "iou": 1, "conf": 0, "max_det": 1.0}
    )
    as_form = await client.post(
        "/v1/detect",
        files={"image": ("road.jpg", JPEG, "image/jpeg")},
        data={"iou": "1", "conf": "0.0", "max_det": "2.0"},
    )
    assert len(as_json.json()["detections"]) == 1, as_json.text
    assert len(as_form.json()["detections"]) == 2


@pytest.mark.parametrize("lat", ["89", "-85.06"])
async def test_a_report_or_frame_beyond_the_geo_index_is_422(
    client: httpx.AsyncClient, session_id: str, lat: str
) -> None:
    image = {"image": ("road.jpg", JPEG, "image/jpeg")}
    report = await client.post(
        "/v1/reports", data={"service_code": "D40", "lat": lat, "lon": "4"}, files=image
    )
    frame = await client.post(
        f"/v1/sessions/{session_id}/frames", data={"lat": lat, "lon": "4"}, files=image
    )
    for response in (report, frame):
        assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "lat"]


async def test_a_since_that_cannot_be_converted_to_utc_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/reports", params={"since": "0001-01-01T00:00:00+14:00"})
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["query", "since"]


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("value", ["0.5", "1714564800", "2024-05-01"])
async def test_a_time_filter_is_iso_8601_with_a_timezone(
    client: httpx.AsyncClient, name: str, value: str
) -> None:
    # Lax pydantic would read a bare number as a Unix timestamp.
    response = await client.get("/v1/reports", params={name: value})
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["query", name]


async def test_a_json_capture_time_is_text(client: httpx.AsyncClient, session_id: str) -> None:
    image = base64.b64encode(JPEG).decode()
    response = await client.post(
        f"/v1/sessions/{session_id}/frames", json={"image": image, "captured_at": 1714564800}
    )
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "captured_at"]


@pytest.mark.parametrize("position", [{"lat": None, "lon": 4.0}, {"lat": 52.0, "lon": None}])
async def test_a_coordinate_beside_a_null_one_is_422(
    client: httpx.AsyncClient, session_id: str, position: dict[str, Any]
) -> None:
    image = base64.b64encode(JPEG).decode()
    report = await client.post("/v1/reports", json={"service_code": "D40", **position})
    frame = await client.post(
        f"/v1/sessions/{session_id}/frames", json={"image": image, **position}
    )
    for response in (report, frame):
        assert "lat and lon" in assert_problem(response, 422)["errors"][0]["msg"]


async def test_null_coordinates_are_coordinates_not_sent(
    client: httpx.AsyncClient, session_id: str
) -> None:
    image = base64.b64encode(JPEG).decode()
    nulls = {"lat": None, "lon": None}
    report = await client.post("/v1/reports", json={"service_code": "D40", "image": None, **nulls})
    frame = await client.post(
        f"/v1/sessions/{session_id}/frames", json={"image": image, "accuracy_m": None, **nulls}
    )
    assert report.status_code == 201, report.text
    assert (report.json()["lat"], report.json()["images"]["original"]) == (None, None)
    assert frame.status_code == 200, frame.text


@pytest.mark.parametrize("tags", ["{}", '["a"]', "a,,b", "a\tb"])
async def test_a_structure_flattened_into_the_tags_field_is_no_tag(
    client: httpx.AsyncClient, tags: str
) -> None:
    response = await client.post(
        "/v1/reports",
        data={"service_code": "D40", "tags": tags},
        files={"image": ("road.jpg", JPEG, "image/jpeg")},
    )
    assert assert_problem(response, 422)["errors"][0]["loc"][:2] == ["body", "tags"]


@pytest.mark.parametrize("tag", [" a", "a ", "a,b", "{}", "x" * 51])
async def test_a_json_tag_is_kept_as_sent_or_refused(client: httpx.AsyncClient, tag: str) -> None:
    response = await client.post("/v1/reports", json={"service_code": "D40", "tags": [tag]})
    assert assert_problem(response, 422)["errors"][0]["loc"][:2] == ["body", "tags"]


async def test_an_empty_file_refuses_the_whole_batch(client: httpx.AsyncClient) -> None:
    files = [("images", ("a.jpg", JPEG, "image/jpeg")), ("images", ("b.jpg", b"", "image/jpeg"))]
    response = await client.post("/v1/detect/batch", files=files)
    assert "empty" in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize(
    "path", ["/v1/reports/{}", "/v1/reports/{}/image", "/v1/sessions/{}", "/v1/nothing/{}"]
)
async def test_a_404_does_not_echo_a_long_id(client: httpx.AsyncClient, path: str) -> None:
    long_id = "A" * 5000
    body = assert_problem(await client.get(path.format(long_id)), 404)
    assert len(body["detail"]) < 200
    assert "A" * 40 in body["detail"]
    assert "A" * 65 not in body["detail"]
