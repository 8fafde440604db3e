"""The live feed's bounds over real HTTP (uvicorn on a port): a listener that falls behind is
let go rather than buffered, listeners past the limit are refused, and the reader role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from roadhazard.reports.models import Report
from tests.harness import make_settings
from tests.realtime.live import live_server
from tests.realtime.sse_client import EventReader
from tests.reports.seeding import seed, seeded_report

REPORTER_KEY = "reporter-key-0123456789"


def _server(raw_model: Path, **overrides: Any) -> Any:
    settings = make_settings(
        model_path=raw_model,
        model_warmup_runs=0,
        rate_limit_enabled=False,
        offline_geocoder=False,
        **overrides,
    )
    return live_server(settings)


def _closed_behind(metrics_text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "report_feeds_closed_total" and sample.labels == {"reason": "behind"}
    )


async def test_a_listener_that_falls_behind_is_let_go(raw_model: Path) -> None:
    with _server(raw_model, events_queue_size=1) as server:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
            before = _closed_behind((await http.get("/metrics")).text)
            async with http.stream("GET", "/v1/reports/events") as response:
                reader = EventReader(response)
                await reader.next()  # the opening: listening
                # A burst the reader hands over in one go: more than the listener may hold.
                await server.call(seed(server.state.reports.store, _burst(200), batch=200))
                with pytest.raises(EOFError):
                    await reader.to_the_end()
            after = _closed_behind((await http.get("/metrics")).text)
    assert after == before + 1


async def test_listeners_past_the_limit_are_refused(raw_model: Path) -> None:
    with _server(raw_model, events_max_listeners=1) as server:
        async with (
            httpx.AsyncClient(base_url=server.http_url, timeout=30) as http,
            http.stream("GET", "/v1/reports/events") as first,
        ):
            await EventReader(first).next()
            refused = await http.get("/v1/reports/events")
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"


async def test_the_feed_needs_the_reader_role(raw_model: Path) -> None:
    with _server(raw_model, api_keys=f"reporter:{REPORTER_KEY}", public_reads=False) as server:
        async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
            anonymous = await http.get("/v1/reports/events")
            assert anonymous.status_code == 401
            assert anonymous.headers["content-type"] == "application/problem+json"
            async with http.stream(
                "GET", "/v1/reports/events", headers={"X-API-Key": REPORTER_KEY}
            ) as admitted:
                assert admitted.status_code == 200
                opening = await EventReader(admitted).next()
    assert opening.comments == ["connected"]


def _burst(size: int) -> list[Report]:
    return [seeded_report(n) for n in range(size)]
