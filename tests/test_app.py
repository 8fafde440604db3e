"""App-wide behaviour: problem+json for every error, request ids, logging, settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI

from roadhazard.configuration import ConfigurationError, load_settings
from tests.harness import make_settings, running_app


async def test_unknown_route_and_wrong_method_are_problems(raw_model: Path) -> None:
    async with running_app(make_settings(model_path=raw_model)) as (client, _):
        missing = await client.get("/v1/nothing-here")
        wrong_method = await client.delete("/health")

    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "No route matches GET /v1/nothing-here."
    assert missing.json()["request_id"] == missing.headers["x-request-id"]
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"].endswith("/method-not-allowed")


async def test_unexpected_errors_are_logged_with_traceback_but_never_leaked(
    raw_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def add_broken_route(app: FastAPI) -> None:
        async def broken() -> None:
            raise RuntimeError("db password is hunter2")

        app.add_api_route("/broken", broken)

    settings = make_settings(model_path=raw_model, log_format="json")
    async with running_app(settings, configure=add_broken_route) as (client, _):
        response = await client.get("/broken", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["request_id"] == "req-500"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    crash = next(entry for entry in logged if entry["event"] == "unhandled_exception")
    assert crash["request_id"] == "req-500"
    assert crash["exception"][0]["exc_value"] == "db password is hunter2"


async def test_every_log_line_of_a_request_carries_its_id(
    raw_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(model_path=raw_model, log_format="json")
    async with running_app(settings) as (client, _):
        await client.get("/health", headers={"X-Request-ID": "abc-42"})

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    access = [entry for entry in lines if entry.get("event") == "request"]
    assert access == [
        {
            **access[0],
            "request_id": "abc-42",
            "method": "GET",
            "path": "/health",
            "status": 200,
        }
    ]


async def test_unsafe_inbound_request_ids_are_replaced(raw_model: Path) -> None:
    async with running_app(make_settings(model_path=raw_model)) as (client, _):
        response = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})

    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32


def test_settings_errors_become_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROADHAZARD_PORT", "99999")
    monkeypatch.setenv("ROADHAZARD_LOG_FORMAT", "xml")

    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None)

    message = str(caught.value)
    assert "ROADHAZARD_PORT" in message
    assert "ROADHAZARD_LOG_FORMAT" in message
    assert "\n" not in message


def test_a_model_file_of_the_wrong_kind_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROADHAZARD_MODEL_PATH", "best.pt")

    with pytest.raises(ConfigurationError, match=r"ROADHAZARD_MODEL_PATH: must be an \.onnx file"):
        load_settings(_env_file=None)


def test_a_class_map_to_an_unknown_hazard_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROADHAZARD_CLASS_MAP", '{"bump": "D99"}')

    with pytest.raises(ConfigurationError, match=r"ROADHAZARD_CLASS_MAP: .*'D99'"):
        load_settings(_env_file=None)


def test_bad_configuration_exits_non_zero_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "roadhazard.cli", "serve"],
        env={"ROADHAZARD_INFERENCE_CONCURRENCY": "zero", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.strip().startswith("roadhazard: invalid configuration:")
    assert "ROADHAZARD_INFERENCE_CONCURRENCY" in result.stderr
    assert "Traceback" not in result.stderr
