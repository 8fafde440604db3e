"""GET /v1/geocode and GET /v1/reverse-geocode through the whole app."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.nominatim import FakeNominatim
from tests.geocoding.conftest import DAMRAK, PARISER_PLATZ
from tests.harness import make_settings, running_app

PROBLEM = "application/problem+json"


async def test_geocode_and_reverse_geocode_answer_from_the_provider(
    fake: FakeNominatim, fake_url: str, raw_model: Path
) -> None:
    settings = make_settings(
        model_path=raw_model, geocoder_url=fake_url, geocoder_min_interval_s=0.05
    )
    async with running_app(settings, wait_loaded=False) as (client, _):
        found = await client.get("/v1/geocode", params={"q": "damrak", "limit": 2})
        here = await client.get(
            "/v1/reverse-geocode", params={"lat": PARISER_PLATZ.lat, "lon": PARISER_PLATZ.lon}
        )
        nowhere = await client.get("/v1/reverse-geocode", params={"lat": 0, "lon": -30})

    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["query"], body["provider"]) == ("damrak", "nominatim")
    (place,) = body["results"]
    assert place["display_name"] == DAMRAK.display_name
    assert (place["category"], place["type"]) == ("building", "yes")
    assert place["address"]["house_number"] == "1"
    assert fake.to("/search")[0].params["limit"] == "2"
    assert here.status_code == 200, here.text
    assert here.json()["address"]["road"] == "Pariser Platz"
    assert here.json()["address"]["country_code"] == "DE"
    assert nowhere.status_code == 200
    assert nowhere.json()["address"] is None


@pytest.mark.parametrize(
    ("path", "params", "bad"),
    [
        ("/v1/geocode", {"q": ""}, "q"),
        ("/v1/geocode", {"q": "   "}, "q"),
        ("/v1/geocode", {"q": "x" * 301}, "q"),
        ("/v1/geocode", {"q": "damrak", "limit": 11}, "limit"),
        ("/v1/geocode", {"q": "damrak", "limit": 0}, "limit"),
        ("/v1/reverse-geocode", {"lat": 90.5, "lon": 0}, "lat"),
        ("/v1/reverse-geocode", {"lat": 0, "lon": -180.1}, "lon"),
        ("/v1/reverse-geocode", {"lat": "nan", "lon": 0}, "lat"),
        ("/v1/reverse-geocode", {"lon": 0}, "lat"),
    ],
)
async def test_bad_parameters_are_a_422_problem(
    raw_model: Path, path: str, params: dict[str, object], bad: str
) -> None:
    settings = make_settings(model_path=raw_model, offline_geocoder=False)
    async with running_app(settings, wait_loaded=False) as (client, _):
        response = await client.get(path, params=params)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert [error["loc"] for error in response.json()["errors"]] == [["query", bad]]


async def test_without_a_provider_search_is_a_503_problem_naming_the_setting(
    raw_model: Path,
) -> None:
    settings = make_settings(model_path=raw_model, offline_geocoder=False)
    async with running_app(settings, wait_loaded=False) as (client, _):
        search = await client.get("/v1/geocode", params={"q": "damrak"})
        reverse = await client.get("/v1/reverse-geocode", params={"lat": 52.52, "lon": 13.4})
        ready = await client.get("/ready")

    assert search.status_code == 503
    assert search.headers["content-type"] == PROBLEM
    assert search.headers["retry-after"] == "3600"
    assert "ROADHAZARD_GEOCODER_URL" in search.json()["detail"]
    assert reverse.status_code == 200
    assert reverse.json() == {"lat": 52.52, "lon": 13.4, "provider": "none", "address": None}
    assert ready.json()["checks"]["geocoder"]["detail"].startswith("geocoding disabled")
