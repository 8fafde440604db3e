"""Idempotency records the previous release wrote: a retry right after an upgrade is answered
from them, never with a 500.

That release kept the HTTP answer itself (its status and the rendered ReportOut JSON) where this
one keeps the report as filed (codec.encode_answer); such a record lives for a day.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from roadhazard.lifespan import AppState
from roadhazard.reports import keys
from roadhazard.reports.models import GeoPoint, IdempotencyKey, ManualReport
from roadhazard.taxonomy import resolve
from tests.harness import make_settings, running_app

POTHOLE = {"service_code": "D40", "lat": 52.37, "lon": 4.89, "description": "deep"}
DRAFT = ManualReport(hazard=resolve("D40"), location=GeoPoint(52.37, 4.89), description="deep")
# The test client's address, which names the caller of a request without an API key.
CALLER = "ip:127.0.0.1"
REPORT_ID = "01JXQ7Z5K8V3N4M2P6R8T0W2Y4"
# A body as the previous release rendered it (ReportOut.model_dump_json), kept byte for byte.
OLD_BODY = (
    '{"service_request_id":"01JXQ7Z5K8V3N4M2P6R8T0W2Y4","service_code":"D40",'
    '"service_name":"Pothole","status":"open","state":"new","lat":52.37,"long":4.89,'
    '"address":null,"address_details":null,"address_status":"pending","media_url":null,'
    '"requested_datetime":"2026-11-28T09:15:02.512000Z",'
    '"updated_datetime":"2026-11-28T09:15:02.512000Z","description":"deep","tags":[],'
    '"severity":"high","detection":null,"session_id":null,'
    '"images":{"original":null,"annotated":null},"duplicate_of":null,"duplicates":[],'
    '"confirmations":0,"last_seen":"2026-11-28T09:15:02.512000Z",'
    '"history":[{"state":"new","at":"2026-11-28T09:15:02.512000Z"}]}'
)


def old_record(body: str) -> str:
    """A finished record as the previous release's idempotency_finish.lua left it."""
    record = {
        "state": "done",
        "fp": DRAFT.fingerprint(),
        "token": "5f0c6d2e9a1b4c3d8e7f6a5b4c3d2e1f",
        "report_id": REPORT_ID,
        "lease_until": "1796030132512",
        "status": "201",
        "body": body,
    }
    return json.dumps(record, separators=(",", ":"))


@pytest.fixture
async def app(raw_model: Path) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    async with running_app(make_settings(model_path=raw_model), wait_loaded=False) as running:
        yield running


async def file(client: httpx.AsyncClient, key: str, **changes: object) -> httpx.Response:
    payload = {**POTHOLE, **changes}
    return await client.post("/v1/reports", json=payload, headers={"Idempotency-Key": key})


async def test_a_retry_after_the_upgrade_gets_the_old_answer_as_it_was_sent(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, resources = app
    redis_key = IdempotencyKey(CALLER, "before-upgrade").redis_key()
    await resources.redis.set(redis_key, old_record(OLD_BODY), ex=keys.IDEMPOTENCY_TTL_S)

    replay = await file(client, "before-upgrade")
    changed = await file(client, "before-upgrade", description="other")
    stats = await client.get("/v1/reports/stats")

    assert replay.status_code == 201, replay.text
    assert replay.content == OLD_BODY.encode()
    assert replay.headers["content-type"] == "application/json"
    assert replay.headers["location"] == f"/v1/reports/{REPORT_ID}"
    # The same key with another payload is still refused, and the replay filed nothing new.
    assert changed.status_code == 422
    assert stats.json()["total"] == 0


async def test_a_record_neither_release_can_read_is_a_conflict_not_a_500(
    app: tuple[httpx.AsyncClient, AppState],
) -> None:
    client, resources = app
    redis_key = IdempotencyKey(CALLER, "garbled").redis_key()
    await resources.redis.set(redis_key, old_record('{"neither":"shape"}'), ex=60)

    answer = await file(client, "garbled")

    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert "can no longer be replayed" in answer.json()["detail"]
    assert (await client.get("/v1/reports/stats")).json()["total"] == 0
