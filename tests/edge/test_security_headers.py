"""Every response says nosniff, no referrer and no framing; images say their exact type."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from roadhazard.lifespan import AppState
from tests.factories import jpeg, png
from tests.harness import make_settings, running_app


@pytest.fixture
async def app(raw_model: Path) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    async with running_app(make_settings(model_path=raw_model), wait_loaded=False) as running:
        yield running


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy


async def test_success_error_and_problem_answers_carry_the_headers(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, _ = app
    answers = [
        await client.get("/health"),
        await client.get("/no/such/route"),
        await client.post("/v1/reports", json={"service_code": "D40", "lat": 100, "lon": 0}),
    ]

    assert [answer.status_code for answer in answers] == [200, 404, 422]
    for answer in answers:
        assert_security_headers(answer)
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")


async def test_the_500_of_an_unexpected_crash_carries_the_headers(raw_model: Path) -> None:
    # Starlette sends this answer from its outermost middleware, outside ours.
    def add_crashing_route(app: FastAPI) -> None:
        async def crash() -> None:
            raise RuntimeError("unexpected")

        app.add_api_route("/crash", crash)

    settings = make_settings(model_path=raw_model)
    async with running_app(settings, wait_loaded=False, configure=add_crashing_route) as running:
        client, _ = running
        answer = await client.get("/crash", headers={"X-Request-ID": "crash-1"})

    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["request_id"] == answer.headers["x-request-id"] == "crash-1"
    assert_security_headers(answer)
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert answer.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(("image", "content_type"), [(jpeg(), "image/jpeg"), (png(), "image/png")])
async def test_a_report_image_is_served_with_its_exact_type(
    app: tuple[httpx.AsyncClient, AppState], image: bytes, content_type: str
) -> None:
    client, _ = app
    created = await client.post(
        "/v1/reports",
        json={"service_code": "D40", "lat": 1, "lon": 1, "image": base64.b64encode(image).decode()},
    )
    served = await client.get(f"/v1/reports/{created.json()['service_request_id']}/image")

    assert served.status_code == 200
    assert served.headers["content-type"] == content_type
    assert served.content == image
    assert_security_headers(served)
