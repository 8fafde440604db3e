"""POST /v1/detect, /v1/detect/batch and GET /v1/model over the real app."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests import scene
from tests.factories import encode_image
from tests.harness import make_settings, running_app

JPEG = encode_image(scene.IMAGE_SIZE)
LIMIT = 1024 * 1024


@pytest.fixture
async def client(raw_model: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(model_path=raw_model, max_image_bytes=LIMIT)
    async with running_app(settings) as (client, _):
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["type"].startswith("https://roadhazard.dev/problems/")
    assert "Traceback" not in response.text
    return body


async def test_detect_multipart_returns_known_detections(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/detect", files={"image": ("road.jpg", JPEG, "image/jpeg")})

    assert response.status_code == 200
    body = response.json()
    assert [(d["class_name"], d["class_id"]) for d in body["detections"]] == [
        ("D00", 0),
        ("D40", 1),
        ("D50", 2),
    ]
    assert body["detections"][0]["box"] == {"x1": 280.0, "y1": 220.0, "x2": 360.0, "y2": 260.0}
    assert body["detections"][1]["hazard"] == {"code": "D40", "name": "Pothole", "severity": "high"}
    assert body["image"] == {"width": 640, "height": 480}
    assert body["model"]["name"] == "raw.onnx"
    assert body["model"]["runtime"] == "onnxruntime"
    assert body["model"]["input_size"] == [320, 320]
    assert set(body["timings_ms"]) == {"decode", "preprocess", "inference", "postprocess", "total"}
    assert response.headers["x-processing-time"].endswith("ms")


async def test_detect_json_base64_and_data_url(client: httpx.AsyncClient) -> None:
    encoded = base64.b64encode(JPEG).decode()

    plain = await client.post("/v1/detect", json={"image": encoded, "conf": 0.65})
    data_url = await client.post("/v1/detect", json={"image": f"data:image/jpeg;base64,{encoded}"})

    assert [d["class_name"] for d in plain.json()["detections"]] == ["D00", "D40"]
    assert len(data_url.json()["detections"]) == 3


async def test_detect_form_parameters_override_defaults(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/detect",
        files={"image": ("road.jpg", JPEG, "image/jpeg")},
        data={"classes": "1,2", "max_det": "1"},
    )

    assert [d["class_name"] for d in response.json()["detections"]] == ["D40"]


async def test_request_id_is_echoed_when_given(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "trace-123"})

    assert response.headers["x-request-id"] == "trace-123"


async def test_batch_answers_per_image(client: httpx.AsyncClient) -> None:
    files = [
        ("images", ("a.jpg", JPEG, "image/jpeg")),
        ("images", ("b.txt", b"not an image", "text/plain")),
        ("images", ("c.png", encode_image(scene.IMAGE_SIZE, "PNG"), "image/png")),
    ]

    response = await client.post("/v1/detect/batch", files=files)

    assert response.status_code == 200
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (2, 1)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2]
    assert len(results[0]["result"]["detections"]) == 3
    assert results[1]["error"]["status"] == 415
    assert results[1]["result"] is None
    assert len(results[2]["result"]["detections"]) == 3


async def test_batch_json_with_an_oversized_image_fails_only_that_image(
    client: httpx.AsyncClient,
) -> None:
    big = base64.b64encode(b"\xff" * (LIMIT + 1)).decode()
    small = base64.b64encode(JPEG).decode()

    response = await client.post("/v1/detect/batch", json={"images": [small, big, "%%%"]})

    results = response.json()["results"]
    assert results[0]["result"] is not None
    assert results[1]["error"]["status"] == 413
    assert results[2]["error"]["status"] == 400


async def test_model_card_endpoint(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/model")).json()

    assert [(c["id"], c["name"], c["hazard"]["code"]) for c in body["classes"]] == [
        (0, "D00", "D00"),
        (1, "D40", "D40"),
        (2, "D50", "D50"),
    ]
    assert body["classes"][1]["hazard"] == {"code": "D40", "name": "Pothole", "severity": "high"}
    assert body["layout"] == "raw"
    assert body["input_size"] == [320, 320]
    assert body["providers"] == ["CPUExecutionProvider"]
    assert body["default_thresholds"] == {"conf": 0.25, "iou": 0.7, "max_det": 300}


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({}, 400),
        ({"files": {"image": ("empty.jpg", b"", "image/jpeg")}}, 400),
        ({"files": {"image": ("notes.txt", b"hello", "text/plain")}}, 415),
        ({"files": {"image": ("cut.jpg", JPEG[: len(JPEG) // 3], "image/jpeg")}}, 400),
        ({"files": {"image": ("anim.gif", gif_bytes(), "image/gif")}}, 415),
        ({"files": {"image": ("big.jpg", b"\xff" * (LIMIT + 1), "image/jpeg")}}, 413),
        ({"json": {"image": "this is not base64!"}}, 400),
        ({"json": {"image": 42}}, 400),
        ({"json": {}}, 400),
        ({"json": ["not", "an", "object"]}, 400),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415),
        ({"data": {"conf": "0.5"}, "files": {"other": ("a.jpg", JPEG, "image/jpeg")}}, 400),
    ],
)
async def test_bad_input_gets_a_problem_not_a_500(
    client: httpx.AsyncClient, kwargs: dict[str, Any], status: int
) -> None:
    response = await client.post("/v1/detect", **kwargs)

    assert_problem(response, status)


@pytest.mark.parametrize(
    "fields",
    [
        {"conf": "1.5"},
        {"iou": "-0.1"},
        {"max_det": "0"},
        {"classes": "a,b"},
        {"classes": "-1"},
        {"colour": "red"},
    ],
)
async def test_out_of_range_parameters_get_422(
    client: httpx.AsyncClient, fields: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/detect", files={"image": ("road.jpg", JPEG, "image/jpeg")}, data=fields
    )

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"][0] == "body"


async def test_too_many_pixels_gets_413(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, max_image_pixels=100_000)
    async with running_app(settings) as (client, _):
        response = await client.post("/v1/detect", files={"image": ("r.jpg", JPEG, "image/jpeg")})

    assert "pixels" in assert_problem(response, 413)["detail"]


async def test_request_body_limit_gets_413(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, max_request_bytes=4096)
    async with running_app(settings) as (client, _):
        response = await client.post("/v1/detect", files={"image": ("r.jpg", JPEG, "image/jpeg")})

    assert_problem(response, 413)


async def test_too_many_images_in_a_batch_gets_413(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, batch_max_images=2)
    files = [("images", (f"{i}.jpg", JPEG, "image/jpeg")) for i in range(3)]
    async with running_app(settings) as (client, _):
        response = await client.post("/v1/detect/batch", files=files)

    assert "at most 2" in assert_problem(response, 413)["detail"]


async def test_third_party_class_names_map_onto_the_taxonomy(raw_model: Path) -> None:
    settings = make_settings(
        model_path=raw_model,
        model_class_names=["Alligator Crack", "speed bump", "lid"],
        class_map={"lid": "D50"},
    )
    async with running_app(settings) as (client, _):
        response = await client.post("/v1/detect", files={"image": ("r.jpg", JPEG, "image/jpeg")})

    detections = response.json()["detections"]
    assert [d["class_name"] for d in detections] == ["Alligator Crack", "speed bump", "lid"]
    assert detections[0]["hazard"]["code"] == "D20"
    # Unmapped classes are still reported, under their own names.
    assert detections[1]["hazard"] is None
    assert detections[2]["hazard"] == {"code": "D50", "name": "Manhole cover", "severity": "medium"}
