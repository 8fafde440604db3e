"""A session is its opener's: other reporters are told it does not exist; admins see all."""

from __future__ import annotations

from pathlib import Path

from roadhazard.access.service import digest
from tests import scene
from tests.factories import encode_image
from tests.harness import make_settings, running_app

OWNER_KEY = "reporter-owner-0123456789"
OTHER_KEY = "reporter-other-0123456789"
ADMIN_KEY = "admin-key-0123456789abcdef"
KEYS = f"reporter:{OWNER_KEY},reporter:{OTHER_KEY},admin:sha256={digest(ADMIN_KEY)}"
OWNER, OTHER, ADMIN = ({"X-API-Key": key} for key in (OWNER_KEY, OTHER_KEY, ADMIN_KEY))
FRAME = {"image": ("f.jpg", encode_image(scene.IMAGE_SIZE), "image/jpeg")}
UNKNOWN_ID = "01J0Q8Z5M4XK3V8T2N6R9B1C7D"


def _without_ids(problem: dict[str, object], session_id: str) -> dict[str, object]:
    """A problem with what necessarily differs between two requests taken out."""
    kept = {k: v for k, v in problem.items() if k not in ("request_id", "instance")}
    return {k: v.replace(session_id, "<id>") if isinstance(v, str) else v for k, v in kept.items()}


async def test_another_reporter_cannot_tell_a_session_from_a_missing_one(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, api_keys=KEYS)
    async with running_app(settings) as (client, _):
        opened = await client.post(
            "/v1/sessions", json={"source": "dashcam", "device": "van 12"}, headers=OWNER
        )
        session_id = opened.json()["id"]
        foreign = {
            "frame": await client.post(
                f"/v1/sessions/{session_id}/frames", files=FRAME, headers=OTHER
            ),
            "read": await client.get(f"/v1/sessions/{session_id}", headers=OTHER),
            "end": await client.post(f"/v1/sessions/{session_id}/end", headers=OTHER),
        }
        unknown = await client.get(f"/v1/sessions/{UNKNOWN_ID}", headers=OTHER)
        after = await client.get(f"/v1/sessions/{session_id}", headers=OWNER)

    assert opened.status_code == 201
    assert {name: answer.status_code for name, answer in foreign.items()} == {
        "frame": 404,
        "read": 404,
        "end": 404,
    }
    expected = _without_ids(unknown.json(), UNKNOWN_ID)
    for answer in foreign.values():
        assert _without_ids(answer.json(), session_id) == expected
    # The refused frame and end changed nothing.
    assert (after.json()["state"], after.json()["frames"]) == ("active", 0)


async def test_the_owner_uses_its_session_and_an_admin_sees_and_ends_any(
    raw_model: Path,
) -> None:
    settings = make_settings(model_path=raw_model, api_keys=KEYS)
    async with running_app(settings) as (client, _):
        opened = await client.post(
            "/v1/sessions", json={"source": "mobile", "device": "phone"}, headers=OWNER
        )
        session_id = opened.json()["id"]
        frame = await client.post(f"/v1/sessions/{session_id}/frames", files=FRAME, headers=OWNER)
        owner_read = await client.get(f"/v1/sessions/{session_id}", headers=OWNER)
        admin_read = await client.get(f"/v1/sessions/{session_id}", headers=ADMIN)
        admin_end = await client.post(f"/v1/sessions/{session_id}/end", headers=ADMIN)
        owner_end_again = await client.post(f"/v1/sessions/{session_id}/end", headers=OWNER)

    assert frame.status_code == 200
    assert (owner_read.status_code, owner_read.json()["frames"]) == (200, 1)
    assert (admin_read.status_code, admin_read.json()["frames"]) == (200, 1)
    assert (admin_end.status_code, admin_end.json()["state"]) == (200, "ended")
    assert (owner_end_again.status_code, owner_end_again.json()["state"]) == (200, "ended")
