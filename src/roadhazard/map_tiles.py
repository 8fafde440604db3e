"""The dashboard's background map: a tile URL template and its attribution, checked at start
(ground level, beside settings; the dashboard builds its page's policy from the URL)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from roadhazard.urls import HOST, split_http_url

OPENSTREETMAP_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OPENSTREETMAP_ATTRIBUTION = (
    "© [OpenStreetMap](https://www.openstreetmap.org/copyright) contributors"
)
# Written instead of a URL to turn the tiles off (an empty variable counts as unset).
NO_TILES = "none"

# Leaflet fills these in: zoom, column, row, a subdomain (the host's first label only) and
# "@2x" on high-density screens.
_PLACEHOLDERS = frozenset({"{z}", "{x}", "{y}", "{s}", "{r}"})
_LINK = re.compile(r"\[([^\[\]]+)\]\(([^()\s]+)\)")


def check_tile_url(value: str) -> str:
    """The tile URL template as the page uses it, "" for no tiles; ValueError names the fault
    without quoting the value (a provider's key may be in its query)."""
    text = value.strip()
    if text.lower() in ("", NO_TILES):
        return ""
    parts = split_http_url(text)
    if parts.username is not None or not HOST.fullmatch(parts.hostname or ""):
        raise ValueError("needs a plain host name or IPv4 address ({s}. may start it)")
    found = set(re.findall(r"\{[^{}]*\}", text))
    if unknown := sorted(found - _PLACEHOLDERS):
        raise ValueError(f"has unknown placeholders {', '.join(unknown)}; use {{z}} {{x}} {{y}}")
    if not {"{z}", "{x}", "{y}"} <= found or "{s}" in parts.path + parts.query:
        raise ValueError("needs {z}, {x} and {y} in its path, and {s} only in its host")
    return text


def check_attribution(value: str) -> str:
    """Plain text: the page shows it as text, with each `[text](https://...)` as a link."""
    if "<" in value or ">" in value:
        raise ValueError("is plain text, not HTML; write a link as [text](https://...)")
    for _, url in _LINK.findall(value):
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("links only to http:// or https:// URLs")
    return value.strip()
