"""The exports' bounds over real HTTP: ROADHAZARD_EXPORT_MAX_REPORTS (and `truncated`), no area
cap (an area the list refuses is exported in full), a Redis call over its timeout (503, before
the answer starts), and the reader role."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from roadhazard.reports import listing, walk
from roadhazard.reports.models import GeoPoint, Report
from roadhazard.reports.store import Position, ReportStore
from tests.harness import make_settings
from tests.realtime.live import LiveServer, live_server
from tests.reports.seeding import seed, seeded_report

REPORTER_KEY = "reporter-key-0123456789"


def _settings(raw_model: Path, **overrides: Any) -> Any:
    return make_settings(
        model_path=raw_model,
        model_warmup_runs=0,
        rate_limit_enabled=False,
        offline_geocoder=False,
        **overrides,
    )


def _seed(server: LiveServer, reports: list[Report]) -> None:
    asyncio.run_coroutine_threadsafe(seed(server.state.reports.store, reports), server.loop).result(
        60
    )


async def _features(server: LiveServer, **params: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=60) as http:
        response = await http.get("/v1/reports.geojson", params=params)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def test_an_export_stops_at_its_limit_and_says_so(raw_model: Path) -> None:
    with live_server(_settings(raw_model, export_max_reports=5)) as server:
        _seed(server, [seeded_report(n) for n in range(5)])
        whole = await _features(server)
        assert (len(whole["features"]), whole["truncated"]) == (5, False)

        _seed(server, [seeded_report(n) for n in range(5, 10)])
        cut = await _features(server)
        assert (len(cut["features"]), cut["truncated"]) == (5, True)
        async with httpx.AsyncClient(base_url=server.http_url, timeout=60) as http:
            rows = (await http.get("/v1/reports.csv")).text.splitlines()
        assert len(rows) == 1 + 5


async def test_an_area_the_list_refuses_is_exported_whole(
    raw_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The list's cap, made small: the area below holds more than it.
    monkeypatch.setattr(listing, "AREA_MAX_CANDIDATES", 20)
    monkeypatch.setattr(walk, "AREA_MAX_CANDIDATES", 20)
    inside = [seeded_report(n, location=GeoPoint(52.0 + n * 0.0001, 4.0)) for n in range(30)]
    outside = [seeded_report(100 + n, location=GeoPoint(53.0, 5.0 + n * 0.01)) for n in range(5)]
    bbox = "3.99,51.99,4.01,52.01"
    with live_server(_settings(raw_model)) as server:
        _seed(server, [*inside, *outside])
        async with httpx.AsyncClient(base_url=server.http_url, timeout=60) as http:
            refused = await http.get("/v1/reports", params={"bbox": bbox})
        assert refused.status_code == 422

        in_box = await _features(server, bbox=bbox)
        assert {f["id"] for f in in_box["features"]} == {r.id for r in inside}
        # 30 reports 11.12 m apart from 52.0 north: within 200 m of the tenth are the 27 first
        # (the last is 17 steps, 189 m, away), more than the cap: each is measured.
        near = await _features(server, near="52.0009,4.0", radius_m=200)
        assert {f["id"] for f in near["features"]} == {r.id for r in inside[:27]}


async def test_a_redis_call_over_its_timeout_is_a_503_before_the_answer_starts(
    raw_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def stalled(*args: object, **kwargs: object) -> list[Position]:
        await asyncio.sleep(3600)  # a Redis that holds the connection and never answers
        return []

    settings = _settings(
        raw_model,
        export_redis_timeout_s=0.2,
        api_keys=f"reporter:{REPORTER_KEY}",
        public_reads=False,
    )
    with live_server(settings) as server:
        _seed(server, [seeded_report(n) for n in range(3)])
        monkeypatch.setattr(ReportStore, "page", stalled)
        async with httpx.AsyncClient(base_url=server.http_url, timeout=60) as http:
            anonymous = await http.get("/v1/reports.csv")
            assert anonymous.status_code == 401
            for path in ("/v1/reports.geojson", "/v1/reports.csv"):
                late = await http.get(path, headers={"X-API-Key": REPORTER_KEY})
                assert late.status_code == 503
                assert late.headers["content-type"] == "application/problem+json"
                assert late.headers["retry-after"] == "1"
                assert late.json()["request_id"]
