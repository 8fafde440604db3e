"""A model's per-class default thresholds over the real app: precedence and GET /v1/model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests import scene
from tests.factories import build_constant_model, encode_image
from tests.harness import make_settings, running_app

JPEG = encode_image(scene.IMAGE_SIZE)


@asynccontextmanager
async def client_for(model: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(model_path=model, **settings)) as (client, _):
        yield client


async def detected(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.post(
        "/v1/detect", files={"image": ("road.jpg", JPEG, "image/jpeg")}, data=params
    )
    assert response.status_code == 200, response.text
    return [d["class_name"] for d in response.json()["detections"]]


async def test_without_conf_the_models_thresholds_apply(tuned_model: Path) -> None:
    async with client_for(tuned_model) as client:
        # D00 at 0.9 is under its own 0.95.
        assert await detected(client) == ["D40", "D50"]


async def test_a_request_conf_overrides_the_models_thresholds(tuned_model: Path) -> None:
    async with client_for(tuned_model) as client:
        assert await detected(client, conf="0.25") == ["D00", "D40", "D50"]
        assert await detected(client, conf="0.65") == ["D00", "D40"]


async def test_the_setting_overrides_the_models_thresholds(tuned_model: Path) -> None:
    async with client_for(tuned_model, conf_threshold=0.65) as client:
        body = (await client.get("/v1/model")).json()

        assert await detected(client) == ["D00", "D40"]
        # ...and a request's own conf still beats the setting.
        assert await detected(client, conf="0.5") == ["D00", "D40", "D50"]

    assert body["default_confidence"]["source"] == "setting"
    assert {c["conf"] for c in body["default_confidence"]["per_class"]} == {0.65}
    assert body["default_thresholds"]["conf"] == 0.65


async def test_model_card_shows_the_models_thresholds_per_class(tuned_model: Path) -> None:
    async with client_for(tuned_model) as client:
        body = (await client.get("/v1/model")).json()

    assert body["default_confidence"] == {
        "source": "model_metadata",
        "per_class": [
            {"class_id": 0, "name": "D00", "hazard_code": "D00", "conf": 0.95},
            {"class_id": 1, "name": "D40", "hazard_code": "D40", "conf": 0.5},
            {"class_id": 2, "name": "D50", "hazard_code": "D50", "conf": 0.1},
        ],
    }
    # The single figure is the lowest: what every candidate must clear first.
    assert body["default_thresholds"] == {"conf": 0.1, "iou": 0.7, "max_det": 300}


async def test_a_model_without_thresholds_reports_the_builtin_default(raw_model: Path) -> None:
    async with client_for(raw_model) as client:
        body = (await client.get("/v1/model")).json()
        assert await detected(client) == ["D00", "D40", "D50"]

    assert body["default_confidence"]["source"] == "builtin"
    assert [(c["name"], c["conf"]) for c in body["default_confidence"]["per_class"]] == [
        ("D00", 0.25),
        ("D40", 0.25),
        ("D50", 0.25),
    ]


async def test_an_unmapped_class_has_no_hazard_code(tmp_path: Path) -> None:
    metadata = {
        **scene.raw_metadata(),
        "names": str({0: "D00", 1: "D40", 2: "lid"}),
        "class_conf": "{2: 0.3}",
    }
    model = build_constant_model(tmp_path / "m.onnx", scene.raw_output(), metadata=metadata)

    async with client_for(model) as client:
        rows = (await client.get("/v1/model")).json()["default_confidence"]["per_class"]

    assert rows[2] == {"class_id": 2, "name": "lid", "hazard_code": None, "conf": 0.3}
    assert [row["conf"] for row in rows[:2]] == [0.25, 0.25]
