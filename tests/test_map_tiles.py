"""The dashboard's tile URL and attribution are checked at start, and give the page's policy
exactly the tile server's origin."""

from __future__ import annotations

import re

import pytest

from roadhazard.map_tiles import (
    OPENSTREETMAP_ATTRIBUTION,
    OPENSTREETMAP_TILES,
    check_attribution,
    check_tile_url,
)
from roadhazard.settings import ConfigurationError, read_settings
from roadhazard.urls import csp_source

SECRET = "tile-key-123456"


@pytest.mark.parametrize(
    "url",
    [
        OPENSTREETMAP_TILES,
        "https://{s}.tiles.example.org/base/{z}/{x}/{y}{r}.png",
        "http://127.0.0.1:8081/{z}/{x}/{y}.png",
        f"https://tiles.example.org/{{z}}/{{x}}/{{y}}.png?key={SECRET}",
    ],
)
def test_a_tile_url_template_is_kept_as_written(url: str) -> None:
    assert check_tile_url(f" {url} ") == url


@pytest.mark.parametrize("off", ["", "none", " NONE "])
def test_none_or_nothing_turns_the_tiles_off(off: str) -> None:
    assert check_tile_url(off) == ""


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("tiles.example.org/{z}/{x}/{y}.png", "http:// or https://"),
        ("ftp://tiles.example.org/{z}/{x}/{y}.png", "http:// or https://"),
        ("https://tiles.example.org:port/{z}/{x}/{y}.png", "not a valid URL"),
        ("https://user:pw@tiles.example.org/{z}/{x}/{y}.png", "plain host name"),
        ("https://[::1]/{z}/{x}/{y}.png", "plain host name"),
        ("https://tiles;example.org/{z}/{x}/{y}.png", "plain host name"),
        ("https://tiles.{s}.example.org/{z}/{x}/{y}.png", "plain host name"),
        (f"https://tiles.example.org/{{z}}/{{x}}.png?key={SECRET}", "needs {z}, {x} and {y}"),
        ("https://tiles.example.org/{s}/{z}/{x}/{y}.png", "{s} only in its host"),
        ("https://tiles.example.org/{z}/{x}/{y}.png?k={apikey}", "unknown placeholders {apikey}"),
    ],
)
def test_a_bad_tile_url_is_refused_without_quoting_it(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)) as refused:
        check_tile_url(url)
    assert SECRET not in str(refused.value)


def test_the_attribution_is_text_with_web_links_only() -> None:
    assert check_attribution(OPENSTREETMAP_ATTRIBUTION) == OPENSTREETMAP_ATTRIBUTION
    with pytest.raises(ValueError, match="not HTML"):
        check_attribution('<a href="https://osm.org">OSM</a>')
    with pytest.raises(ValueError, match="http:// or https://"):
        check_attribution("[OSM](javascript:void)")


@pytest.mark.parametrize(
    ("url", "source"),
    [
        (OPENSTREETMAP_TILES, "https://tile.openstreetmap.org"),
        ("https://{s}.Tiles.Example.org/{z}/{x}/{y}.png", "https://*.tiles.example.org"),
        ("http://127.0.0.1:8081/{z}/{x}/{y}.png?key=1", "http://127.0.0.1:8081"),
        ("https://res.cloudinary.com", "https://res.cloudinary.com"),
        ("https://a b/{z}", None),
        ("https://x.org:port/", None),
        ("data:image/png;base64,AAAA", None),
    ],
)
def test_a_policy_source_is_the_origin_alone(url: str, source: str | None) -> None:
    assert csp_source(url) == source


def test_settings_name_the_variable_of_a_bad_tile_url() -> None:
    with pytest.raises(ConfigurationError, match="ROADHAZARD_DASHBOARD_TILE_URL: ") as refused:
        read_settings(_env_file=None, dashboard_tile_url=f"https://t.example/{{z}}?key={SECRET}")
    assert SECRET not in str(refused.value)
    off = read_settings(_env_file=None, dashboard_tile_url="none")
    assert off.dashboard_tile_url == ""
