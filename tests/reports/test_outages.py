"""Reports while Cloudinary and the geocoder fail: the app against local servers that speak
their real HTTP APIs, with faults injected. Nothing a client sent may be lost, and no answer
may wait on either dependency."""

from __future__ import annotations

import asyncio
import base64
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from roadhazard.lifespan import AppState
from roadhazard.settings import Settings
from tests.factories import jpeg
from tests.fakes.cloudinary import FakeCloudinary
from tests.fakes.nominatim import FakeNominatim
from tests.fakes.server import Fault
from tests.geocoding.conftest import DAMRAK, GAZETTEER
from tests.harness import (
    background_settled,
    eventually,
    make_settings,
    redis_across_restarts,
    running_app,
)

# Beside Damrak 1 in the fake gazetteer (within its reverse radius).
NEAR_DAMRAK = {"lat": 52.37551, "lon": 4.89628}


@dataclass
class Remote:
    cloudinary: FakeCloudinary
    cloudinary_url: str
    nominatim: FakeNominatim
    nominatim_url: str

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "cloudinary_url": self.cloudinary.cloudinary_url,
            "cloudinary_api_url": self.cloudinary_url,
            "cloudinary_delivery_url": self.cloudinary_url,
            "cloudinary_timeout_s": 0.5,
            "geocoder_url": self.nominatim_url,
            "geocoder_timeout_s": 0.5,
            "geocoder_min_interval_s": 0.0,
            "dependency_retries": 1,
            "circuit_failure_threshold": 3,
            "circuit_reset_s": 0.3,
            "outbox_poll_s": 0.05,
            "outbox_max_backoff_s": 1.0,
            "outbox_stale_after_s": 0.1,
            "ready_check_timeout_s": 1.0,
        }
        values.update(overrides)
        return make_settings(**values)

    def heal(self) -> None:
        self.cloudinary.faults.clear()
        self.nominatim.faults.clear()


@contextmanager
def remote_services() -> Iterator[Remote]:
    cloudinary = FakeCloudinary()
    nominatim = FakeNominatim(list(GAZETTEER))
    with cloudinary.serving() as cloudinary_url, _serving(nominatim) as nominatim_url:
        yield Remote(cloudinary, cloudinary_url, nominatim, nominatim_url)


@contextmanager
def _serving(nominatim: FakeNominatim) -> Iterator[str]:
    from tests.fakes.server import serving

    with serving(nominatim.app) as url:
        yield url


@pytest.fixture
def remote() -> Iterator[Remote]:
    with remote_services() as services:
        yield services


@pytest.fixture
async def app(remote: Remote, raw_model: Path) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    async with running_app(remote.settings(model_path=raw_model), wait_loaded=False) as running:
        yield running


async def _fetch(url: str) -> httpx.Response:
    """What a browser does with a delivery URL: a plain GET to Cloudinary's CDN."""
    async with httpx.AsyncClient(timeout=5) as browser:
        return await browser.get(url)


def report_payload(**extra: Any) -> dict[str, Any]:
    return {
        "service_code": "D40",
        **NEAR_DAMRAK,
        "image": base64.b64encode(jpeg()).decode(),
        **extra,
    }


async def test_images_go_to_cloudinary_and_addresses_come_from_nominatim(
    app: tuple[httpx.AsyncClient, AppState], remote: Remote
) -> None:
    client, resources = app
    created = await client.post("/v1/reports", json=report_payload())
    assert created.status_code == 201, created.text
    report_id = created.json()["service_request_id"]

    await background_settled(resources)
    report = (await client.get(f"/v1/reports/{report_id}")).json()
    original = report["images"]["original"]
    public_id = f"roadhazard/{report_id}_original"
    assert original["status"] == "stored"
    assert remote.cloudinary.uploads[public_id] == jpeg()
    assert original["delivery_url"].startswith(f"{remote.cloudinary_url}/roadhazard-test/")
    assert report["media_url"] == original["delivery_url"]
    thumbnail = await _fetch(original["thumbnail_url"])
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert (report["address"], report["address_status"]) == (DAMRAK.display_name, "resolved")
    assert report["address_details"]["road"] == "Damrak"
    reverse = remote.nominatim.to("/reverse")[0]
    assert reverse.params["format"] == "jsonv2"
    assert reverse.headers["user-agent"].startswith("Roadhazard/")

    redirect = await client.get(f"/v1/reports/{report_id}/image")
    assert redirect.status_code == 307
    assert redirect.headers["location"] == original["delivery_url"]
    assert (await _fetch(redirect.headers["location"])).content == jpeg()

    assert (await client.delete(f"/v1/reports/{report_id}")).status_code == 204
    await background_settled(resources)
    assert public_id not in remote.cloudinary.uploads
    assert remote.cloudinary.calls["destroy"] >= 2  # the original, and the annotated if any


async def test_an_address_only_report_gets_its_position_by_forward_geocoding(
    app: tuple[httpx.AsyncClient, AppState], remote: Remote
) -> None:
    client, resources = app
    created = await client.post(
        "/v1/reports", json={"service_code": "D40", "address": "Damrak, Burgwallen-Oude Zijde"}
    )
    assert created.status_code == 201, created.text
    assert (created.json()["lat"], created.json()["address_status"]) == (None, "pending")

    await background_settled(resources)
    report = (await client.get(f"/v1/reports/{created.json()['service_request_id']}")).json()
    assert (report["lat"], report["long"]) == (DAMRAK.lat, DAMRAK.lon)
    assert report["address"] == DAMRAK.display_name
    near = await client.get(
        "/v1/reports", params={"near": f"{DAMRAK.lat},{DAMRAK.lon}", "radius_m": 50}
    )
    assert [r["service_request_id"] for r in near.json()["reports"]] == [
        report["service_request_id"]
    ]
    assert remote.nominatim.to("/search")[0].params["q"] == "Damrak, Burgwallen-Oude Zijde"


@pytest.mark.parametrize(
    "fault", [Fault.ERROR_500, Fault.RATE_LIMITED, Fault.HANG, Fault.SLOW], ids=str
)
async def test_reports_filed_during_an_outage_are_completed_when_it_ends(
    raw_model: Path, remote: Remote, fault: Fault
) -> None:
    # A call that waits on either dependency takes at least WAIT_S (its timeout, or a slow
    # answer's delay), so filing three reports in less than that cannot have waited on one.
    wait_s = 5.0
    remote.cloudinary.faults.set(fault, retry_after_s=1, delay_s=2 * wait_s)
    remote.nominatim.faults.set(fault, retry_after_s=1, delay_s=2 * wait_s)
    settings = remote.settings(
        model_path=raw_model, cloudinary_timeout_s=wait_s, geocoder_timeout_s=wait_s
    )
    async with running_app(settings, wait_loaded=False) as (client, resources):
        started = time.perf_counter()
        created = [await client.post("/v1/reports", json=report_payload()) for _ in range(3)]
        elapsed = time.perf_counter() - started
        assert [r.status_code for r in created] == [201, 201, 201]
        assert elapsed < wait_s, "filing a report must not wait on Cloudinary or the geocoder"
        await eventually(lambda: _image_store_unhealthy(client), poll_s=0.05)
        ids = [r.json()["service_request_id"] for r in created]
        pending = (await client.get(f"/v1/reports/{ids[0]}")).json()
        assert pending["images"]["original"]["status"] == "pending"
        assert pending["address"] is None
        # The frame is served from the outbox meanwhile.
        assert (await client.get(f"/v1/reports/{ids[0]}/image")).content == jpeg()

        remote.heal()
        await background_settled(resources, timeout_s=60)
        for report_id in ids:
            report = (await client.get(f"/v1/reports/{report_id}")).json()
            assert report["images"]["original"]["status"] == "stored"
            assert report["address"] == DAMRAK.display_name
            assert f"roadhazard/{report_id}_original" in remote.cloudinary.uploads


async def _image_store_unhealthy(client: httpx.AsyncClient) -> bool:
    """Readiness has seen the outage: the workers met the fault and their backlog is stale."""
    ready = await client.get("/ready")
    assert ready.status_code == 200  # the image store informs readiness but never fails it
    return bool(ready.json()["checks"]["image_store"]["status"] != "healthy")


async def test_a_refused_connection_is_an_outage_too(raw_model: Path, remote: Remote) -> None:
    from tests.fakes.server import unused_port

    closed = f"http://127.0.0.1:{unused_port()}"
    settings = remote.settings(model_path=raw_model, cloudinary_api_url=closed, geocoder_url=closed)
    async with running_app(settings, wait_loaded=False) as (client, resources):
        created = await client.post("/v1/reports", json=report_payload())
        assert created.status_code == 201

        async def every_worker_failed() -> bool:
            backlog = [await worker.outbox.backlog() for worker in resources.workers]
            return all(b.size >= 1 and b.last_error for b in backlog)

        await eventually(every_worker_failed, poll_s=0.05)
        report = (await client.get(f"/v1/reports/{created.json()['service_request_id']}")).json()
    assert report["images"]["original"]["status"] == "pending"
    assert report["address_status"] == "pending"


async def test_nothing_is_lost_when_the_service_restarts_during_an_outage(
    raw_model: Path, remote: Remote
) -> None:
    remote.cloudinary.faults.set(Fault.ERROR_500)
    remote.nominatim.faults.set(Fault.HANG)
    with tempfile.TemporaryDirectory(prefix="rh-") as data_dir:
        settings = remote.settings(model_path=raw_model, data_dir=Path(data_dir))
        async with redis_across_restarts(settings) as kept:
            async with running_app(kept, wait_loaded=False) as (client, _):
                created = await client.post("/v1/reports", json=report_payload())
                report_id = created.json()["service_request_id"]
                # Both workers are mid-outage when the service stops.
                await eventually(
                    lambda: (
                        remote.cloudinary.calls["upload"] >= 1
                        and bool(remote.nominatim.to("/reverse"))
                    )
                )
            # Stopped mid-outage; the dependencies come back while the service is down.
            remote.heal()
            async with running_app(kept, wait_loaded=False) as (client, resources):
                await background_settled(resources, timeout_s=15)
                report = (await client.get(f"/v1/reports/{report_id}")).json()
    assert report["images"]["original"]["status"] == "stored"
    assert report["address"] == DAMRAK.display_name
    assert remote.cloudinary.uploads[f"roadhazard/{report_id}_original"] == jpeg()


async def test_health_answers_quickly_while_both_dependencies_hang(
    raw_model: Path, remote: Remote
) -> None:
    # Every call to either dependency hangs until its timeout, HANG_S; /health must answer
    # meanwhile, each time in a small fraction of that.
    hang_s = 10.0
    remote.cloudinary.faults.set(Fault.HANG)
    remote.nominatim.faults.set(Fault.HANG)
    settings = remote.settings(
        model_path=raw_model, cloudinary_timeout_s=hang_s, geocoder_timeout_s=hang_s
    )
    async with running_app(settings, wait_loaded=False) as (client, _):
        for _ in range(4):
            assert (await client.post("/v1/reports", json=report_payload())).status_code == 201
        # A geocoding request of our own hangs on the provider too.
        hanging = asyncio.create_task(client.get("/v1/geocode", params={"q": "Damrak"}))
        await eventually(
            lambda: remote.cloudinary.calls["upload"] >= 1 and bool(remote.nominatim.to("/search"))
        )

        latencies = []
        for _ in range(20):
            started = time.perf_counter()
            assert (await client.get("/health")).status_code == 200
            latencies.append(time.perf_counter() - started)
        assert not hanging.done(), "the geocoding request was meant to hang throughout"
        assert max(latencies) < hang_s / 10, latencies
        # The provider comes back: the hanging request gets its answer.
        remote.heal()
        assert (await hanging).status_code == 200
