"""GET /v1/reports.geojson and .csv over real HTTP (uvicorn on a port): valid GeoJSON by three
independent readers, lon-lat order, the list's filters, CSV as the csv module reads it, the
formula-injection guard, and bodies that arrive in many chunks."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import geojson
import httpx
import pytest
import shapely.geometry
from geojson_pydantic import FeatureCollection

from roadhazard.reports.models import GeoPoint
from roadhazard.reports.states import ReportState
from tests.harness import make_settings
from tests.realtime.live import LiveServer, live_server
from tests.reports.seeding import seed, seeded_report

BULK = 3000
AMSTERDAM = GeoPoint(52.37, 4.89)
BERLIN = GeoPoint(52.52, 13.405)
INJECTED = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture(scope="module")
def server(raw_model: Path) -> Iterator[LiveServer]:
    settings = make_settings(
        model_path=raw_model,
        model_warmup_runs=0,
        rate_limit_enabled=False,
        offline_geocoder=False,
    )
    with live_server(settings) as live:
        yield live


@pytest.fixture(scope="module")
def seeded(server: LiveServer) -> dict[str, str]:
    """BULK potholes spread over Amsterdam, and a few reports with something to check."""
    bulk = [
        seeded_report(n, location=GeoPoint(52.30 + (n % 100) * 0.001, 4.80 + (n // 100) * 0.001))
        for n in range(BULK)
    ]
    special = {
        "unplaced": seeded_report(BULK + 1, code="D20", location=None),
        "injected": seeded_report(
            BULK + 2,
            code="D20",
            location=AMSTERDAM,
            description=INJECTED,
            tags=("=cmd", "school zone"),
            address="-Damrak 1, Amsterdam",
        ),
        "fixed": seeded_report(BULK + 3, code="D20", state=ReportState.FIXED, location=AMSTERDAM),
        "berlin": seeded_report(BULK + 4, code="D20", location=BERLIN),
    }
    written = seed(server.state.reports.store, [*bulk, *special.values()])
    asyncio.run_coroutine_threadsafe(written, server.loop).result(120)
    return {name: report.id for name, report in special.items()}


@pytest.fixture
async def http(server: LiveServer, seeded: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=60) as client:
        yield client


async def _geojson(http: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await http.get("/v1/reports.geojson", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    document: dict[str, Any] = response.json()
    return document


def _ids(document: dict[str, Any]) -> list[str]:
    return [feature["id"] for feature in document["features"]]


async def test_the_export_is_a_feature_collection_every_reader_accepts(
    http: httpx.AsyncClient, seeded: dict[str, str]
) -> None:
    response = await http.get("/v1/reports.geojson", params={"service_code": "D20"})
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith('attachment; filename="reports-')
    assert response.headers["content-disposition"].endswith('.geojson"')

    # geojson-pydantic parses the whole collection; the geojson package checks it by RFC 7946;
    # shapely builds each geometry.
    parsed = FeatureCollection.model_validate_json(response.content)
    assert parsed.type == "FeatureCollection"
    loaded = geojson.loads(response.text)
    assert loaded.is_valid, loaded.errors()
    document = response.json()
    assert document["truncated"] is False
    by_id = {feature["id"]: feature for feature in document["features"]}
    assert set(by_id) == set(seeded.values())
    for feature in document["features"]:
        if feature["geometry"] is not None:
            assert shapely.geometry.shape(feature["geometry"]).is_valid
        # Flat: every property is a value GIS tools show in a column.
        assert all(not isinstance(v, dict | list) for v in feature["properties"].values())

    # RFC 7946: longitude first.
    berlin = shapely.geometry.shape(by_id[seeded["berlin"]]["geometry"])
    assert (berlin.x, berlin.y) == (BERLIN.lon, BERLIN.lat)
    # A report without a position has a null geometry (§3.2), and is still exported.
    assert by_id[seeded["unplaced"]]["geometry"] is None
    injected = by_id[seeded["injected"]]["properties"]
    assert injected["description"] == INJECTED  # JSON needs no guard
    assert injected["tags"] == "=cmd,school zone"
    assert injected["address"] == "-Damrak 1, Amsterdam"
    assert injected["address_city"] == "Amsterdam"
    assert injected["service_code"] == "D20"
    assert injected["state"] == "new"
    assert json.loads(injected["history"]) == [
        {"state": "new", "at": injected["requested_datetime"]}
    ]


async def test_the_export_takes_the_list_filters(
    http: httpx.AsyncClient, seeded: dict[str, str]
) -> None:
    assert _ids(await _geojson(http, service_code="D20", state="fixed")) == [seeded["fixed"]]
    in_berlin = await _geojson(http, bbox="13.3,52.4,13.5,52.6")
    assert _ids(in_berlin) == [seeded["berlin"]]
    near = await _geojson(http, near=f"{BERLIN.lat},{BERLIN.lon}", radius_m=100)
    assert _ids(near) == [seeded["berlin"]]
    newest = _ids(await _geojson(http, service_code="D20"))
    oldest = _ids(await _geojson(http, service_code="D20", sort="oldest"))
    assert oldest == newest[::-1]
    assert newest[0] == seeded["berlin"]  # filed last


async def test_a_filter_nothing_matches_exports_an_empty_collection(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/v1/reports.geojson", params={"service_code": "D50"})
    assert response.json() == {"type": "FeatureCollection", "features": [], "truncated": False}
    assert geojson.loads(response.text).is_valid
    rows = list(csv.reader(io.StringIO((await http.get("/v1/reports.csv?service_code=D50")).text)))
    assert len(rows) == 1
    assert rows[0][-3:] == ["lat", "lon", "wkt"]


async def test_the_csv_export_has_positions_and_guards_formulas(
    http: httpx.AsyncClient, seeded: dict[str, str]
) -> None:
    response = await http.get("/v1/reports.csv", params={"service_code": "D20"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_id = {row["service_request_id"]: row for row in rows}
    assert set(by_id) == set(seeded.values())

    berlin = by_id[seeded["berlin"]]
    assert (float(berlin["lat"]), float(berlin["lon"])) == (BERLIN.lat, BERLIN.lon)
    assert berlin["wkt"] == f"POINT({BERLIN.lon} {BERLIN.lat})"
    assert shapely.from_wkt(berlin["wkt"]).x == BERLIN.lon
    unplaced = by_id[seeded["unplaced"]]
    assert (unplaced["lat"], unplaced["lon"], unplaced["wkt"]) == ("", "", "")

    injected = by_id[seeded["injected"]]
    assert injected["description"] == "'" + INJECTED
    assert injected["tags"] == "'=cmd,school zone"
    assert injected["address"] == "'-Damrak 1, Amsterdam"
    # Not user text, not guarded: a number stays a number.
    assert injected["detection_confidence"] == "0.75"


async def test_a_large_export_arrives_in_many_chunks(http: httpx.AsyncClient) -> None:
    for path in ("/v1/reports.geojson", "/v1/reports.csv"):
        chunks = 0
        body = bytearray()
        async with http.stream("GET", path, params={"service_code": "D40"}) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_raw():
                chunks += 1
                body += chunk
        # One chunk per batch of 250 reports, at least: never the whole export at once.
        assert chunks >= BULK // 250
        if path.endswith(".geojson"):
            assert len(json.loads(body)["features"]) == BULK
        else:
            assert len(list(csv.reader(io.StringIO(body.decode())))) == BULK + 1


@pytest.mark.parametrize("path", ["/v1/reports.geojson", "/v1/reports.csv"])
@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "13.5,52.4,13.3,52.6"},  # min_lon above max_lon
        {"near": "52.5,13.4"},  # no radius
        {"state": "lost"},
        {"sort": "random"},
    ],
)
async def test_bad_filters_are_problems_with_a_request_id(
    http: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await http.get(path, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["request_id"]
