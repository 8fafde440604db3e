"""The real app over HTTP (in-process ASGI transport), its embedded Redis, and a fake
Nominatim that knows one street, so addresses have postcodes; the reports service's clock is
the test's (it starts at the current second, and moves only when a test moves it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.nominatim import FakeNominatim, FakePlace
from tests.fakes.server import serving
from tests.harness import background_settled, make_settings, running_app
from tests.reports.conftest import Clock

from roadhazard.lifespan import AppState
from roadhazard.timeutil import utc_now

DAMRAK = FakePlace(
    place_id=1,
    lat=52.37552,
    lon=4.89629,
    name="Damrak",
    display_name="1, Damrak, Amsterdam, Noord-Holland, 1012 LG, Nederland",
    address={
        "house_number": "1",
        "road": "Damrak",
        "city": "Amsterdam",
        "postcode": "1012 LG",
        "country_code": "nl",
    },
)
V2 = "/open311/v2"


@dataclass
class Open311:
    client: httpx.AsyncClient
    resources: AppState
    clock: Clock

    async def post(self, fmt: str = "json", **fields: Any) -> httpx.Response:
        form = {"service_code": "D40", **fields}
        return await self.client.post(f"{V2}/requests.{fmt}", data=form)

    async def file(self, **fields: Any) -> str:
        """Files a request; its id."""
        answer = await self.post(**fields)
        assert answer.status_code == 200, answer.text
        report_id: str = answer.json()[0]["service_request_id"]
        return report_id

    async def settled(self) -> None:
        await background_settled(self.resources)


@pytest.fixture
def geocoder_url() -> Iterator[str]:
    with serving(FakeNominatim([DAMRAK]).app) as url:
        yield url


def open311_settings(raw_model: Path, geocoder_url: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {"rate_limit_enabled": False, **overrides}
    return make_settings(
        model_path=raw_model, geocoder_url=geocoder_url, geocoder_min_interval_s=0, **values
    )


@pytest.fixture
async def open311(raw_model: Path, geocoder_url: str) -> AsyncIterator[Open311]:
    settings = open311_settings(raw_model, geocoder_url)
    async with running_app(settings, wait_loaded=False) as (client, resources):
        # The wall clock's second, held still: the background workers judge a job's age by
        # the wall clock, so a report filed at a time far from it would look abandoned.
        clock = Clock(now=utc_now().replace(microsecond=0))
        resources.reports.clock = clock
        yield Open311(client, resources, clock)
