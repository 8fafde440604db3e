"""API keys and roles on real routes: 401 without a valid key, 403 for the wrong role."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from roadhazard.access.dependencies import AdminDep
from roadhazard.access.service import AccessPolicy, ApiKeyError, Role, digest
from tests import scene
from tests.factories import encode_image
from tests.harness import make_settings, running_app

REPORTER_KEY = "reporter-key-0123456789"
ADMIN_KEY = "admin-key-0123456789abcdef"
KEYS = f"reporter:{REPORTER_KEY},admin:sha256={digest(ADMIN_KEY)}"
IMAGE = {"image": ("r.jpg", encode_image(scene.IMAGE_SIZE), "image/jpeg")}


def add_admin_route(app: FastAPI) -> None:
    async def admin_only(_: AdminDep) -> dict[str, str]:
        return {"ok": "yes"}

    app.add_api_route("/admin-only", admin_only, methods=["POST"])


async def test_roles_are_enforced(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, api_keys=KEYS)
    async with running_app(settings, configure=add_admin_route) as (client, _):
        no_key = await client.post("/v1/detect", files=IMAGE)
        wrong_key = await client.post("/v1/detect", files=IMAGE, headers={"X-API-Key": "nope"})
        reporter = await client.post("/v1/detect", files=IMAGE, headers={"X-API-Key": REPORTER_KEY})
        bearer = await client.post(
            "/v1/detect", files=IMAGE, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
        reporter_on_admin = await client.post("/admin-only", headers={"X-API-Key": REPORTER_KEY})
        admin_on_admin = await client.post("/admin-only", headers={"X-API-Key": ADMIN_KEY})
        public_read = await client.get("/v1/model")

    assert no_key.status_code == 401
    assert no_key.headers["content-type"] == "application/problem+json"
    assert no_key.headers["www-authenticate"].startswith("Bearer")
    assert wrong_key.status_code == 401
    assert reporter.status_code == 200
    assert bearer.status_code == 200
    assert reporter_on_admin.status_code == 403
    assert reporter_on_admin.json()["detail"] == "This needs the admin role."
    assert admin_on_admin.json() == {"ok": "yes"}
    assert public_read.status_code == 200


async def test_private_reads_need_a_key(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, api_keys=KEYS, public_reads=False)
    async with running_app(settings) as (client, _):
        anonymous = await client.get("/v1/model")
        keyed = await client.get("/v1/model", headers={"X-API-Key": REPORTER_KEY})
        health = await client.get("/health")

    assert anonymous.status_code == 401
    assert keyed.status_code == 200
    assert health.status_code == 200


async def test_no_keys_allows_everything_and_warns_once(
    raw_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_app(make_settings(model_path=raw_model)) as (client, _):
        response = await client.post("/v1/detect", files=IMAGE)

    assert response.status_code == 200
    assert capsys.readouterr().err.count("api_keys_not_configured") == 1


def test_policy_keeps_only_digests() -> None:
    policy = AccessPolicy.from_config(KEYS, public_reads=True)

    assert REPORTER_KEY not in repr(policy)
    identified = policy.identify(REPORTER_KEY)
    assert identified is not None
    assert identified.role is Role.REPORTER
    assert identified.key_id == digest(REPORTER_KEY)[:8]
    assert policy.identify("reporter-key-0123456789x") is None


@pytest.mark.parametrize(
    "config",
    ["reporter", "owner:0123456789abcdef", "admin:k3y", "admin:sha256=xyz"],
)
def test_malformed_keys_are_refused_without_echoing_them(config: str) -> None:
    with pytest.raises(ApiKeyError) as caught:
        AccessPolicy.from_config(config, public_reads=True)

    assert config.partition(":")[2] not in str(caught.value) or not config.partition(":")[2]


async def test_sessions_and_reports_follow_the_roles(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, api_keys=KEYS)
    reporter = {"X-API-Key": REPORTER_KEY}
    admin = {"X-API-Key": ADMIN_KEY}
    pothole = {"service_code": "D40", "lat": 52.37, "lon": 4.89}
    async with running_app(settings) as (client, _):
        anonymous_session = await client.post(
            "/v1/sessions", json={"source": "dashcam", "device": "cam"}
        )
        session = await client.post(
            "/v1/sessions", json={"source": "dashcam", "device": "cam"}, headers=reporter
        )
        session_id = session.json()["id"]
        frame = await client.post(
            f"/v1/sessions/{session_id}/frames", files=IMAGE, headers=reporter
        )
        stats = await client.get(f"/v1/sessions/{session_id}", headers=reporter)
        # Public reads cover reports, not sessions: a session is its opener's (and admins').
        anonymous_stats = await client.get(f"/v1/sessions/{session_id}")
        anonymous_report = await client.post("/v1/reports", json=pothole)
        report = await client.post("/v1/reports", json=pothole, headers=reporter)
        report_id = report.json()["service_request_id"]
        listing = await client.get("/v1/reports")
        reporter_confirm = await client.post(f"/v1/reports/{report_id}/confirm", headers=reporter)
        reporter_patch = await client.patch(
            f"/v1/reports/{report_id}", json={"description": "x"}, headers=reporter
        )
        reporter_delete = await client.delete(f"/v1/reports/{report_id}", headers=reporter)
        admin_confirm = await client.post(f"/v1/reports/{report_id}/confirm", headers=admin)
        admin_delete = await client.delete(f"/v1/reports/{report_id}", headers=admin)

    assert anonymous_session.status_code == 401
    assert session.status_code == 201
    assert frame.status_code == 200
    assert stats.status_code == 200
    assert anonymous_stats.status_code == 404
    assert anonymous_report.status_code == 401
    assert report.status_code == 201
    assert listing.status_code == 200
    assert [reporter_confirm.status_code, reporter_patch.status_code] == [403, 403]
    assert reporter_delete.status_code == 403
    assert admin_confirm.json()["state"] == "confirmed"
    assert admin_delete.status_code == 204
