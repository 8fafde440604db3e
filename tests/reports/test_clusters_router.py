"""GET /v1/reports/clusters and /v1/reports/stats/daily over HTTP: the contract the dashboard is
written against, and problem+json for bad input."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx
import pytest

from roadhazard.lifespan import AppState
from roadhazard.reports import clusters, keys
from roadhazard.reports.cells import bounds
from tests.harness import eventually, make_settings, redis_across_restarts, running_app
from tests.reports.conftest import forget_cells

CITY = "4.8,52.3,5.0,52.45"


@pytest.fixture
async def app(raw_model: Path) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    async with running_app(make_settings(model_path=raw_model), wait_loaded=False) as running:
        yield running


async def _file(client: httpx.AsyncClient, code: str, lat: float, lon: float) -> str:
    filed = await client.post("/v1/reports", json={"service_code": code, "lat": lat, "lon": lon})
    assert filed.status_code == 201, filed.text
    report_id: str = filed.json()["service_request_id"]
    return report_id


async def test_cells_and_single_reports_as_geojson(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, _ = app
    pothole = await _file(client, "D40", 52.37, 4.89)
    crack = await _file(client, "D00", 52.3702, 4.8904)
    await client.post(f"/v1/reports/{crack}/confirm")

    answer = await client.get("/v1/reports/clusters", params={"bbox": CITY, "zoom": 12})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/geo+json"
    cell = bounds("u173zm")
    assert answer.json() == {
        "type": "FeatureCollection",
        "zoom": 12,
        "precision": 6,
        "features": [
            {
                "type": "Feature",
                "id": "cell:u173zm",
                # The mean of 52.37,4.89 and 52.3702,4.8904, RFC 7946's order.
                "geometry": {"type": "Point", "coordinates": [4.8902, 52.3701]},
                "properties": {
                    "kind": "cell",
                    "cell": "u173zm",
                    "count": 2,
                    "bounds": [cell.min_lon, cell.min_lat, cell.max_lon, cell.max_lat],
                    "by_class": {"D40": 1, "D00": 1},
                    "by_state": {"new": 1, "confirmed": 1},
                    "by_severity": {"high": 1, "low": 1},
                },
            }
        ],
    }
    assert cell.min_lon <= 4.89 < 4.8904 <= cell.max_lon

    street = await client.get(
        "/v1/reports/clusters",
        params={"bbox": "4.889,52.369,4.891,52.371", "zoom": 17, "service_code": "D40"},
    )
    assert street.json() == {
        "type": "FeatureCollection",
        "zoom": 17,
        "precision": None,
        "features": [
            {
                "type": "Feature",
                "id": pothole,
                "geometry": {"type": "Point", "coordinates": [4.89, 52.37]},
                "properties": {
                    "kind": "report",
                    "report_id": pothole,
                    "service_code": "D40",
                    "service_name": "Pothole",
                    "state": "new",
                    "status": "open",
                    "severity": "high",
                    "confidence": None,
                },
            }
        ],
    }


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "5.0,52.3,4.8,52.45", "zoom": 12},  # west of east
        {"bbox": "4.8,52.45,5.0,52.3", "zoom": 12},  # north below south
        {"bbox": "4.8,52.3,5.0", "zoom": 12},
        {"bbox": CITY},
        {"zoom": 12},
        {"bbox": CITY, "zoom": 23},
        {"bbox": CITY, "zoom": -1},
        {"bbox": CITY, "zoom": 12, "status": "maybe"},
        {"bbox": CITY, "zoom": 12, "min_confidence": 2},
        {"bbox": CITY, "zoom": 12, "since": "yesterday"},
        {"bbox": "4.8,86,5.0,87", "zoom": 12},
    ],
)
async def test_bad_input_is_a_problem(
    app: tuple[httpx.AsyncClient, AppState], params: dict[str, object]
) -> None:
    client, _ = app
    answer = await client.get("/v1/reports/clusters", params=params)  # type: ignore[arg-type]
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["request_id"]


async def test_too_many_reports_to_check_one_by_one_is_a_problem(
    app: tuple[httpx.AsyncClient, AppState], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = app
    for n in range(3):
        await _file(client, "D40", 52.37 + n / 100, 4.89)
    monkeypatch.setattr(clusters, "SCAN_CAP", 2)
    params = {"bbox": CITY, "zoom": 11, "min_confidence": 0}
    answer = await client.get("/v1/reports/clusters", params=params)  # type: ignore[arg-type]
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "zoom in, or drop those filters" in answer.json()["detail"]
    plain = await client.get("/v1/reports/clusters", params={"bbox": CITY, "zoom": 11})
    assert sum(f["properties"]["count"] for f in plain.json()["features"]) == 3


async def test_daily_counts(app: tuple[httpx.AsyncClient, AppState]) -> None:
    client, _ = app
    await _file(client, "D40", 52.37, 4.89)
    today = datetime.now(UTC).date().isoformat()
    month = (await client.get("/v1/reports/stats/daily")).json()["days"]
    assert len(month) == 30
    # Filed just now: today's, unless midnight (UTC) passed between the two requests.
    if month[-1]["date"] == today:
        assert month[-1] == {"date": today, "count": 1}
    assert sum(day["count"] for day in month) == 1
    week = (await client.get("/v1/reports/stats/daily", params={"days": 7})).json()["days"]
    assert [day["date"] for day in week] == sorted(day["date"] for day in week)
    for days in (0, 367, "x"):
        refused = await client.get("/v1/reports/stats/daily", params={"days": days})
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"


async def test_the_document_describes_the_map(app: tuple[httpx.AsyncClient, AppState]) -> None:
    client, _ = app
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/reports/clusters"]["get"]
    params = {p["name"]: p["required"] for p in operation["parameters"]}
    listed = {p["name"] for p in document["paths"]["/v1/reports"]["get"]["parameters"]}
    filters = {"status", "state", "service_code", "severity", "min_confidence", "session_id"}
    assert filters | {"since", "until"} <= listed
    assert params == {name: False for name in filters | {"since", "until"}} | {
        "bbox": True,
        "zoom": True,
    }
    assert list(operation["responses"]["200"]["content"]) == ["application/geo+json"]
    assert "/v1/reports/stats/daily" in document["paths"]


async def test_the_service_counts_older_reports_into_the_cells_when_it_starts(
    raw_model: Path,
) -> None:
    with tempfile.TemporaryDirectory(prefix="rh-") as data_dir:  # a short socket path
        settings = make_settings(model_path=raw_model, data_dir=Path(data_dir))
        async with redis_across_restarts(settings) as settings_in_use:
            async with running_app(settings_in_use, wait_loaded=False) as (client, state):
                report_id = await _file(client, "D40", 52.37, 4.89)
                await eventually(partial(_marked, state))  # its own first check is done
                await forget_cells(state.redis, [report_id])  # as the older release left it
                assert await _count(client) == 0
            async with running_app(settings_in_use, wait_loaded=False) as (client, state):
                await eventually(partial(_marked, state))
                assert await _count(client) == 1


async def _marked(state: AppState) -> bool:
    return bool(await state.redis.exists(keys.REPORT_CELLS_VERSION))


async def _count(client: httpx.AsyncClient) -> int:
    answer = await client.get("/v1/reports/clusters", params={"bbox": CITY, "zoom": 11})
    return sum(feature["properties"]["count"] for feature in answer.json()["features"])
