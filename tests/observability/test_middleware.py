"""HTTP metrics through a real FastAPI app: route templates, status classes and /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from prometheus_client.parser import text_string_to_metric_families

from roadhazard.observability.middleware import MetricsMiddleware
from roadhazard.observability.router import router as metrics_router
from tests.observability.samples import value


def build_app() -> FastAPI:
    items = APIRouter(prefix="/v1")

    @items.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        if item_id == 404:
            raise HTTPException(status_code=404, detail="no such item")
        return {"id": item_id}

    @items.get("/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    app = FastAPI()
    app.include_router(items)
    app.include_router(metrics_router)
    app.add_middleware(MetricsMiddleware)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def requests(method: str, route: str, status_class: str) -> float:
    labels = {"method": method, "route": route, "status_class": status_class}
    return value("http_requests_total", labels)


def durations(method: str, route: str) -> float:
    return value("http_request_duration_seconds_count", {"method": method, "route": route})


async def test_requests_are_labelled_by_route_template_not_path(
    client: httpx.AsyncClient,
) -> None:
    template = "/v1/items/{item_id}"
    before = requests("GET", template, "2xx"), durations("GET", template)

    assert (await client.get("/v1/items/123")).status_code == 200
    assert (await client.get("/v1/items/7")).status_code == 200

    assert requests("GET", template, "2xx") - before[0] == 2
    assert durations("GET", template) - before[1] == 2
    assert requests("GET", "/v1/items/123", "2xx") == 0


async def test_status_classes_unmatched_paths_and_unknown_methods(
    client: httpx.AsyncClient,
) -> None:
    template = "/v1/items/{item_id}"
    cases = [
        (("GET", template, "4xx"), "GET", "/v1/items/404", 404),
        (("GET", "/v1/crash", "5xx"), "GET", "/v1/crash", 500),
        (("GET", "unmatched", "4xx"), "GET", "/no/such/path/42", 404),
        (("POST", template, "4xx"), "POST", "/v1/items/1", 405),
        (("other", template, "4xx"), "BREW", "/v1/items/1", 405),
    ]
    for labels, method, path, status in cases:
        before = requests(*labels)
        assert (await client.request(method, path)).status_code == status
        assert requests(*labels) - before == 1, labels


async def test_metrics_endpoint_serves_parsable_prometheus_text(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/v1/items/5")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    http = families["http_requests"]
    assert http.type == "counter"
    routes = {s.labels["route"] for s in http.samples if s.name == "http_requests_total"}
    assert "/v1/items/{item_id}" in routes
    assert not any(route.startswith("/v1/items/5") for route in routes)
    for name in ("inference_stage_seconds", "event_loop_lag_seconds", "image_uploads"):
        assert name in families


async def test_metrics_endpoint_is_not_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()

    assert "/metrics" not in schema["paths"]
