"""Bad settings stop `roadhazard` at start: one line naming the variable, exit status 2.

Run as operators run it, in a subprocess with the setting in its environment and no .env.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from roadhazard.settings import check_redis_url

PASSWORD = "s3cret-pass"


def run_cli(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROADHAZARD_")}
    return subprocess.run(
        [sys.executable, "-m", "roadhazard.cli", "serve"],
        env={**clean, **{f"ROADHAZARD_{k}": v for k, v in env.items()}},
        cwd=tmp_path,  # no .env file here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REDIS_URL", f"redis+cluster://:{PASSWORD}@localhost:6379/0"),
        ("REDIS_URL", f"http://:{PASSWORD}@localhost:6379"),
        ("REDIS_URL", f"redis://:{PASSWORD}@localhost:port/0"),
        ("REDIS_URL", "unix://"),
        ("GEOCODER_URL", "https://"),
        ("CLOUDINARY_API_URL", "https://api.example:notaport"),
        ("DASHBOARD_TILE_URL", f"https://tiles.example/{{z}}/{{x}}.png?key={PASSWORD}"),
    ],
)
def test_a_bad_url_is_one_message_naming_the_variable_and_status_2(
    tmp_path: Path, variable: str, value: str
) -> None:
    result = run_cli(tmp_path, **{variable: value})

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("roadhazard: invalid configuration: ")
    assert f"ROADHAZARD_{variable}:" in lines[0]
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


def test_the_three_redis_schemes_are_accepted() -> None:
    for url in ("redis://:p@host:6379/0", "rediss://host", "unix:///run/redis.sock?db=1"):
        check_redis_url(url)
