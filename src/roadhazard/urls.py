"""Checks on the URLs settings hold: an http(s) URL with a host, and an origin written as a
content-security-policy source. Ground level: settings and map_tiles use them."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

# A DNS name or IPv4 address; a leading "{s}." is a tile server's subdomain placeholder.
HOST = re.compile(r"(?:\{s\}\.)?[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


def split_http_url(value: str) -> SplitResult:
    """`value`'s parts; ValueError, never quoting it, unless it is http(s) with a host."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return parts


def csp_source(url: str) -> str | None:
    """The content-security-policy source that admits `url`'s origin (a `{s}` subdomain
    becomes `*`), or None when its host cannot be written safely into a policy."""
    try:
        parts = split_http_url(url)
    except ValueError:
        return None
    host = parts.hostname or ""
    if not HOST.fullmatch(host):
        return None
    source = f"{parts.scheme}://{host.replace('{s}', '*')}"
    return source if parts.port is None else f"{source}:{parts.port}"
