"""The README's configuration table lists every setting, so operators can trust it."""

from __future__ import annotations

from roadhazard.settings import Settings
from tests.factories import REPO_ROOT


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table_rows = {
        line.split("`")[1] for line in readme.splitlines() if line.startswith("| `ROADHAZARD_")
    }

    expected = {f"ROADHAZARD_{name.upper()}" for name in Settings.model_fields}

    assert table_rows == expected
