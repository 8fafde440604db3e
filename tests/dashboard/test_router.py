"""/dashboard over HTTP: a page under a strict policy built from the settings, its
configuration, and its files (ours, and the vendored libraries at their locked versions)."""

from __future__ import annotations

import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from roadhazard.dashboard.router import STATIC_DIR
from roadhazard.map_tiles import OPENSTREETMAP_ATTRIBUTION, OPENSTREETMAP_TILES
from roadhazard.taxonomy import load_taxonomy
from tests.harness import make_settings, running_app

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "src" / "roadhazard"
KEY = "admin-dashboard-key-0123456789"
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


class _Page(HTMLParser):
    """Every tag's attributes, and the text inside <script> and <style> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open = tag if tag in ("script", "style") else None

    def handle_data(self, data: str) -> None:
        if self._open and data.strip():
            self.inline.append(data)


def _policy(header: str) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in header.split(";"))
    return {name: value for name, value in directives}


async def _page(raw_model: Path, **settings: Any) -> tuple[dict[str, str], str]:
    async with running_app(make_settings(model_path=raw_model, **settings), wait_loaded=False) as (
        client,
        _,
    ):
        answer = await client.get("/dashboard")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    return _policy(answer.headers["content-security-policy"]), answer.text


async def test_the_page_runs_no_inline_code_and_loads_only_its_own_files(raw_model: Path) -> None:
    async with running_app(make_settings(model_path=raw_model), wait_loaded=False) as (client, _):
        answer = await client.get("/dashboard")
        page = _Page()
        page.feed(answer.text)
        references = [
            value
            for _, attrs in page.tags
            for name, value in attrs.items()
            if name in ("src", "href") and value and not value.startswith("#")
        ]
        fetched = {
            ref: await client.get(urljoin(f"{client.base_url}/dashboard", ref))
            for ref in references
        }

    assert page.inline == []  # no inline script or style, so the policy need allow none
    assert [tag for tag, _ in page.tags if tag == "style"] == []
    assert all(not name.startswith("on") and name != "style" for _, a in page.tags for name in a)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [{"type": "module", "src": "dashboard/static/js/main.js"}]
    for reference, fetched_answer in fetched.items():
        assert "//" not in reference, reference  # relative: this origin, under any prefix
        assert fetched_answer.status_code == 200, reference
        expected = TYPES.get(Path(reference).suffix)
        if expected:
            assert fetched_answer.headers["content-type"].startswith(expected), reference


async def test_the_policy_is_strict_and_admits_the_tile_servers_images_only(
    raw_model: Path,
) -> None:
    policy, _ = await _page(raw_model)

    assert policy == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' https://tile.openstreetmap.org",
        "connect-src": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "form-action": "'none'",
    }


@pytest.mark.parametrize(
    ("settings", "images"),
    [
        ({"dashboard_tile_url": "none"}, "'self'"),
        (
            {"dashboard_tile_url": "https://{s}.tiles.example.org/{z}/{x}/{y}.png?key=k"},
            "'self' https://*.tiles.example.org",
        ),
        (
            {"dashboard_tile_url": "none", "cloudinary_url": "cloudinary://123:abc@demo"},
            "'self' https://res.cloudinary.com",
        ),
        (
            {"dashboard_tile_url": "none", "api_keys": f"admin:{KEY}", "public_reads": False},
            "'self' blob:",
        ),
    ],
)
async def test_images_are_admitted_from_what_the_settings_name(
    raw_model: Path, settings: dict[str, Any], images: str
) -> None:
    policy, _ = await _page(raw_model, **settings)

    assert policy["img-src"] == images
    assert policy["connect-src"] == "'self'"


@pytest.mark.parametrize(
    ("settings", "tiles", "reads_need_key", "actions_need_key"),
    [
        ({}, True, False, False),
        ({"dashboard_tile_url": "none", "api_keys": f"admin:{KEY}"}, False, False, True),
        ({"api_keys": f"admin:{KEY}", "public_reads": False}, True, True, True),
    ],
)
async def test_the_configuration_tells_the_page_its_tiles_refresh_and_keys(
    raw_model: Path,
    settings: dict[str, Any],
    tiles: bool,
    reads_need_key: bool,
    actions_need_key: bool,
) -> None:
    values = {"model_path": raw_model, "dashboard_refresh_s": 7.5, **settings}
    async with running_app(make_settings(**values), wait_loaded=False) as (client, _):
        answer = await client.get("/dashboard/config.json")  # no key needed: it holds no data

    assert answer.status_code == 200
    config = answer.json()
    assert config["refresh_s"] == 7.5
    assert config["reads_need_key"] is reads_need_key
    assert config["actions_need_key"] is actions_need_key
    assert config["tiles"] == (
        {"url": OPENSTREETMAP_TILES, "attribution": OPENSTREETMAP_ATTRIBUTION} if tiles else None
    )
    assert config["classes"] == [
        {"code": h.code, "name": h.name, "severity": h.severity.value}
        for h in load_taxonomy().hazards
    ]


async def test_a_missing_or_outside_file_is_a_404_problem(raw_model: Path) -> None:
    paths = [
        "/dashboard/static/js/missing.js",
        "/dashboard/static/%2e%2e/router.py",
        "/dashboard/static/..%2f..%2fsettings.py",
    ]
    async with running_app(make_settings(model_path=raw_model), wait_loaded=False) as (client, _):
        answers = [await client.get(path) for path in paths]
        slash = await client.get("/dashboard/")

    for answer in answers:
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["request_id"]
    assert slash.status_code == 307  # the page's relative URLs need /dashboard, no slash
    assert slash.headers["location"].endswith("/dashboard")


def _scripts() -> list[Path]:
    return sorted((STATIC_DIR / "js").glob("*.js"))


def test_every_module_imports_files_that_ship() -> None:
    imports = re.compile(r"""^import .* from "(\.[^"]+)";$""", re.MULTILINE)
    for script in _scripts():
        for target in imports.findall(script.read_text("utf-8")):
            assert (script.parent / target).resolve().is_file(), (script.name, target)


def test_the_scripts_never_turn_text_into_markup() -> None:
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|Function\("
    )
    for script in _scripts():
        assert not forbidden.findall(script.read_text("utf-8")), script.name


def test_every_file_of_the_page_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["roadhazard"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern) if path.is_file()}
    page_files = {
        path
        for path in (PACKAGE / "dashboard").rglob("*")
        if path.is_file() and path.suffix != ".py" and "__pycache__" not in path.parts
    }
    assert page_files - shipped == set()


def test_the_vendored_libraries_are_the_locked_versions_with_their_licences() -> None:
    lock = json.loads((ROOT / "dashboard" / "package-lock.json").read_text("utf-8"))
    versions = {
        name.removeprefix("node_modules/"): entry["version"]
        for name, entry in lock["packages"].items()
        if name
    }
    vendor = STATIC_DIR / "vendor"
    leaflet = (vendor / "leaflet" / "leaflet-src.esm.js").read_text("utf-8")
    uplot = (vendor / "uplot" / "uPlot.esm.js").read_text("utf-8")

    assert versions == {"leaflet": versions["leaflet"], "uplot": versions["uplot"]}
    assert f'var version = "{versions["leaflet"]}";' in leaflet
    assert f"(v{versions['uplot']})" in uplot
    assert "BSD 2-Clause License" in (vendor / "leaflet" / "LICENSE").read_text("utf-8")
    assert "The MIT License" in (vendor / "uplot" / "LICENSE").read_text("utf-8")
    table = (vendor / "README.md").read_text("utf-8")
    assert f"`leaflet` {versions['leaflet']}" in table
    assert f"`uplot` {versions['uplot']}" in table
