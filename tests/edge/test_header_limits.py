"""Too many header fields, too long a field or too much in all: 431, as a problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadhazard.configuration import ConfigurationError, load_settings
from roadhazard.edge.header_limits import HeaderLimits
from tests.harness import make_settings, running_app

LIMITS = HeaderLimits(max_headers=20, max_line_bytes=2048, max_total_bytes=8192)


def test_headers_within_every_limit_pass() -> None:
    headers = [(f"x-h{n}".encode(), b"v" * 300) for n in range(20)]
    assert LIMITS.violation(headers) is None


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([(f"x-h{n}".encode(), b"v") for n in range(21)], "more than 20 header fields"),
        ([(b"x-long", b"v" * 2043)], "longer than 2048 bytes"),
        ([(f"x-h{n}".encode(), b"v" * 1900) for n in range(5)], "exceed 8192 bytes in all"),
    ],
)
def test_each_limit_is_enforced(headers: list[tuple[bytes, bytes]], reason: str) -> None:
    violation = LIMITS.violation(headers)
    assert violation is not None
    assert reason in violation


async def test_the_app_answers_431_with_a_problem_and_its_request_id(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, max_headers=30)
    async with running_app(settings, wait_loaded=False) as (client, _):
        within = await client.get("/health", headers={f"x-h{n}": "v" for n in range(20)})
        too_many = await client.get("/health", headers={f"x-h{n}": "v" for n in range(40)})
        too_long = await client.get("/health", headers={"x-long": "v" * 9000})

    assert within.status_code == 200
    for refused in (too_many, too_long):
        assert refused.status_code == 431
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["request_id"] == refused.headers["x-request-id"]
        assert refused.json()["status"] == 431
    assert "more than 30 header fields" in too_many.json()["detail"]


def test_a_line_limit_above_the_total_is_refused_at_start() -> None:
    with pytest.raises(ConfigurationError, match="ROADHAZARD_MAX_HEADER_LINE_BYTES"):
        load_settings(_env_file=None, max_header_line_bytes=65536, max_header_bytes=8192)
