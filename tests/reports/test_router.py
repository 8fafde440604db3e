"""/v1/reports over HTTP, through the real app and its embedded Redis."""

from __future__ import annotations

import asyncio
import base64
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest

from roadhazard.lifespan import AppState
from roadhazard.reports.images import PreparedImage, ReportImages
from roadhazard.reports.models import PendingImages
from tests.factories import jpeg, png
from tests.harness import background_settled, make_settings, running_app
from tests.reports.conftest import assert_consistent, sighting

POTHOLE = {"service_code": "D40", "lat": 52.37, "lon": 4.89, "description": "deep", "tags": ["a"]}


@pytest.fixture
async def app(raw_model: Path) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    async with running_app(make_settings(model_path=raw_model), wait_loaded=False) as running:
        yield running


async def test_manual_report_json_then_read_patch_act_delete(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, resources = app
    image = base64.b64encode(jpeg()).decode()
    created = await client.post("/v1/reports", json={**POTHOLE, "image": image})
    assert created.status_code == 201, created.text
    body = created.json()
    report_id = body["service_request_id"]
    assert created.headers["location"] == f"/v1/reports/{report_id}"
    assert body["service_code"] == "D40"
    assert body["service_name"] == "Pothole"
    assert (body["status"], body["state"], body["severity"]) == ("open", "new", "high")
    assert (body["lat"], body["long"], body["address"]) == (52.37, 4.89, None)
    assert body["address_status"] == "pending"
    assert body["media_url"] == f"/v1/reports/{report_id}/image"
    assert body["images"] == {
        "original": {
            "url": f"/v1/reports/{report_id}/image",
            "content_type": "image/jpeg",
            "status": "pending",
            "delivery_url": None,
            "thumbnail_url": None,
        },
        "annotated": None,
    }
    assert body["detection"] is None
    assert [h["state"] for h in body["history"]] == ["new"]

    await background_settled(resources)
    body = (await client.get(f"/v1/reports/{report_id}")).json()
    assert body["images"]["original"]["status"] == "stored"
    # The embedded offline geocoder names the nearest place: Amsterdam's centre.
    assert body["address_status"] == "resolved"
    assert body["address_details"]["country_code"] == "NL"
    assert body["address_details"]["source"] == "offline"
    image_response = await client.get(f"/v1/reports/{report_id}/image")
    assert image_response.headers["content-type"] == "image/jpeg"
    assert image_response.content == jpeg()
    missing = await client.get(f"/v1/reports/{report_id}/image/annotated")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"

    patched = await client.patch(
        f"/v1/reports/{report_id}",
        json={"description": None, "tags": ["x", "y"], "severity": "low"},
    )
    assert patched.status_code == 200
    assert (patched.json()["description"], patched.json()["tags"]) == (None, ["x", "y"])
    assert patched.json()["severity"] == "low"
    refused = await client.patch(f"/v1/reports/{report_id}", json={"state": "fixed"})
    assert refused.status_code == 422

    for action, state in [("confirm", "confirmed"), ("start", "in_progress"), ("fix", "fixed")]:
        moved = await client.post(f"/v1/reports/{report_id}/{action}")
        assert moved.status_code == 200
        assert moved.json()["state"] == state
    illegal = await client.post(f"/v1/reports/{report_id}/confirm")
    assert illegal.status_code == 409
    assert illegal.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"/v1/reports/{report_id}")).json()["status"] == "closed"

    assert (await client.delete(f"/v1/reports/{report_id}")).status_code == 204
    assert (await client.get(f"/v1/reports/{report_id}")).status_code == 404
    assert (await client.get(f"/v1/reports/{report_id}/image")).status_code == 404
    assert (await client.delete(f"/v1/reports/{report_id}")).status_code == 404
    assert await assert_consistent(resources.redis) == []
    await background_settled(resources)
    assert list(resources.reports.images.store.root.iterdir()) == []  # type: ignore[attr-defined]


async def test_manual_report_as_multipart_with_and_without_an_image(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, _ = app
    form = {"service_code": "pothole", "tags": "one, two", "lat": "10", "lon": "20"}
    with_image = await client.post("/v1/reports", data=form, files={"image": ("a.png", png())})
    # A (None, value) part is a plain field: a multipart body with no file at all.
    without = await client.post("/v1/reports", files={"service_code": (None, "manhole")})
    plain_json = await client.post("/v1/reports", json={"service_code": "D20"})

    assert with_image.status_code == 201, with_image.text
    assert with_image.json()["tags"] == ["one", "two"]
    assert with_image.json()["images"]["original"]["content_type"] == "image/png"
    image = await client.get(with_image.json()["media_url"])
    assert image.headers["content-type"] == "image/png"
    assert plain_json.status_code == 201
    assert plain_json.json()["lat"] is None
    assert plain_json.json()["media_url"] is None
    assert without.status_code == 201, without.text
    assert without.json()["service_code"] == "D50"


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"service_code": "unicorn"}, 422),
        ({"service_code": "D40", "lat": 10}, 422),
        ({"service_code": "D40", "lat": 91, "lon": 0}, 422),
        ({"service_code": "D40", "colour": "red"}, 422),
        ({"service_code": "D40", "image": "not base64!"}, 400),
        ({"service_code": "D40", "image": base64.b64encode(b"plain text").decode()}, 415),
    ],
)
async def test_bad_manual_reports_are_problems(
    app: tuple[httpx.AsyncClient, AppState], payload: dict[str, object], status: int
) -> None:
    client, resources = app
    response = await client.post("/v1/reports", json=payload)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await assert_consistent(resources.redis) == []


class GatedStaging(ReportImages):
    """The real staging, holding each request's images until the test opens the gate."""

    gate: asyncio.Event
    entered: asyncio.Event

    async def stage(
        self, report_id: str, images: Sequence[PreparedImage], *, now_ms: int
    ) -> PendingImages:
        self.entered.set()
        await self.gate.wait()
        return await super().stage(report_id, images, now_ms=now_ms)


async def test_idempotency_key_replays_refuses_changes_and_in_flight(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, resources = app
    real = resources.reports.images
    gated = GatedStaging(real.outbox, real.store, real.reports, real.max_image_pixels)
    gated.gate = asyncio.Event()
    gated.entered = asyncio.Event()
    resources.reports.images = gated
    payload = {**POTHOLE, "image": base64.b64encode(jpeg()).decode()}
    headers = {"Idempotency-Key": "retry-me"}

    first = asyncio.create_task(client.post("/v1/reports", json=payload, headers=headers))
    await asyncio.wait_for(gated.entered.wait(), 20)  # the first request holds the key
    in_flight = await client.post("/v1/reports", json=payload, headers=headers)
    gated.gate.set()
    original = await first
    replay = await client.post("/v1/reports", json=payload, headers=headers)
    changed = await client.post(
        "/v1/reports", json={**payload, "description": "other"}, headers=headers
    )
    other_key = await client.post("/v1/reports", json=payload, headers={"Idempotency-Key": "k2"})

    assert in_flight.status_code == 409
    assert original.status_code == 201
    assert (replay.status_code, replay.json()) == (201, original.json())
    assert changed.status_code == 422
    assert other_key.status_code == 201
    assert other_key.json()["state"] == "duplicate"
    assert other_key.json()["duplicate_of"] == original.json()["service_request_id"]
    assert len(await assert_consistent(resources.redis)) == 2


async def test_list_stats_and_the_stats_route_is_not_an_id(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, resources = app
    made = sighting(image=jpeg(), confidence=0.5)
    await resources.reports.create_from_sighting(made)
    await client.post("/v1/reports", json={"service_code": "D00", "lat": 1.0, "lon": 1.0})

    stats = await client.get("/v1/reports/stats")
    page = await client.get("/v1/reports", params={"limit": 1, "sort": "oldest"})
    rest = await client.get(
        "/v1/reports", params={"limit": 1, "sort": "oldest", "cursor": page.json()["next_cursor"]}
    )
    near = await client.get("/v1/reports", params={"near": "52.37,4.89", "radius_m": 10})
    bbox = await client.get("/v1/reports", params={"bbox": "0,0,2,2", "min_confidence": 0})
    annotated = await client.get(f"/v1/reports/{made.report_id}/image/annotated")
    bad = await client.get("/v1/reports", params={"bbox": "1,2,3"})

    assert stats.status_code == 200
    assert stats.json()["total"] == 2
    assert stats.json()["by_class"] == {"D40": 1, "D00": 1}
    assert stats.json()["by_status"] == {"open": 2, "closed": 0}
    assert stats.json()["last_24h"] == 2
    assert stats.json()["mean_confidence"] == 0.5
    assert [r["service_request_id"] for r in page.json()["reports"]] == [made.report_id]
    assert rest.json()["reports"][0]["service_code"] == "D00"
    assert page.json()["reports"][0]["detection"]["class_name"] == "pothole"
    assert [r["service_request_id"] for r in near.json()["reports"]] == [made.report_id]
    assert bbox.json()["reports"] == []
    assert annotated.headers["content-type"] == "image/jpeg"
    assert bad.status_code == 422


async def test_two_app_instances_on_one_redis_are_one_service(raw_model: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="rh-") as shared:
        settings = make_settings(model_path=raw_model, data_dir=Path(shared))
        async with (
            running_app(settings, wait_loaded=False) as (one, _),
            running_app(settings, wait_loaded=False) as (two, resources),
        ):
            created = await one.post("/v1/reports", json=POTHOLE, headers={"Idempotency-Key": "k"})
            report_id = created.json()["service_request_id"]
            replay = await two.post("/v1/reports", json=POTHOLE, headers={"Idempotency-Key": "k"})
            listed = await two.get("/v1/reports")
            confirmed = await two.post(f"/v1/reports/{report_id}/confirm")
            seen_by_one = await one.get(f"/v1/reports/{report_id}")
            again = await one.post(f"/v1/reports/{report_id}/confirm")
            deleted = await two.delete(f"/v1/reports/{report_id}")
            gone = await one.get(f"/v1/reports/{report_id}")
            stats = await one.get("/v1/reports/stats")
            await assert_consistent(resources.redis)

    assert replay.json() == created.json()
    assert [r["service_request_id"] for r in listed.json()["reports"]] == [report_id]
    assert confirmed.json()["state"] == "confirmed"
    assert seen_by_one.json()["state"] == "confirmed"
    assert again.status_code == 409
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert stats.json()["total"] == 0
