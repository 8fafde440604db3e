"""An Idempotency-Key is its caller's: another API key's equal key is another key."""

from __future__ import annotations

from pathlib import Path

import httpx

from roadhazard.access.service import digest
from tests.harness import make_settings, running_app

FIRST_KEY = "reporter-first-0123456789"
SECOND_KEY = "reporter-second-0123456789"
KEYS = f"reporter:{FIRST_KEY},reporter:sha256={digest(SECOND_KEY)}"
POTHOLE = {"service_code": "D40", "lat": 52.37, "lon": 4.89, "description": "deep"}


async def test_two_callers_with_one_idempotency_key_get_their_own_reports(
    raw_model: Path,
) -> None:
    settings = make_settings(model_path=raw_model, api_keys=KEYS)
    async with running_app(settings, wait_loaded=False) as (client, _):

        async def file(api_key: str, payload: dict[str, object]) -> httpx.Response:
            headers = {"X-API-Key": api_key, "Idempotency-Key": "report-1"}
            return await client.post("/v1/reports", json=payload, headers=headers)

        first = await file(FIRST_KEY, POTHOLE)
        second = await file(SECOND_KEY, POTHOLE)
        first_retry = await file(FIRST_KEY, POTHOLE)
        second_changed = await file(SECOND_KEY, {**POTHOLE, "description": "other"})

    first_id = first.json()["service_request_id"]
    second_id = second.json()["service_request_id"]
    assert (first.status_code, second.status_code) == (201, 201)
    assert second_id != first_id
    # The second report is a new one at the same spot, so it is filed as a duplicate.
    assert second.json()["duplicate_of"] == first_id
    assert first_retry.json()["service_request_id"] == first_id
    # The second caller's key is bound to the second caller's payload, not the first's.
    assert second_changed.status_code == 422
