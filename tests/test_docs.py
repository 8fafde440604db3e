"""The docs name real settings, and the README's table lists every one: operators script
against these names."""

from __future__ import annotations

import re

import pytest

from roadhazard.settings import Settings
from tests.factories import REPO_ROOT


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table_rows = {
        line.split("`")[1] for line in readme.splitlines() if line.startswith("| `ROADHAZARD_")
    }

    expected = {f"ROADHAZARD_{name.upper()}" for name in Settings.model_fields}

    assert table_rows == expected


@pytest.mark.parametrize(
    "document", ["README.md", "docs/operations.md", "Dockerfile", "compose.yaml"]
)
def test_every_setting_a_document_names_exists(document: str) -> None:
    text = (REPO_ROOT / document).read_text(encoding="utf-8")
    named = set(re.findall(r"ROADHAZARD_[A-Z0-9_]*[A-Z0-9]", text))
    known = {f"ROADHAZARD_{name.upper()}" for name in Settings.model_fields}
    # Not settings, but names built around them (test-suite and compose variables).
    named -= {"ROADHAZARD_TEST_REDIS_URL"}

    assert named <= known, sorted(named - known)
