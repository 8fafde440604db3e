"""The Redis keys of the geocoder: its shared request slot and its cache (rules in
`roadhazard.redis.keys`)."""

from __future__ import annotations

from roadhazard.redis.keys import PREFIX, digest

GEOCODER_NEXT_SLOT = f"{PREFIX}geocoder:next_slot"
"""String: when (Redis server time, Unix ms) the next request to the online geocoder may go.
Shared by every worker, so together they keep the provider's rate limit; its TTL ends as soon
as the slot lies in the past, when it no longer holds anything."""


def _coordinate(value: float) -> str:
    # 4 decimals is about 11 m; `+ 0.0` turns -0.0 into 0.0, so both spell one key.
    return f"{round(value, 4) + 0.0:.4f}"


def geocode_reverse(lat: float, lon: float, language: str | None) -> str:
    """String: the cached address (JSON, or `null` for "no address here") near a point.

    Points within the same 4-decimal cell share it; the language is part of the key because
    the provider answers in it. TTL: `geocoder_cache_ttl_s` (shorter for `null`)."""
    lang = digest(language or "")[:16]
    return f"{PREFIX}geocode:reverse:{lang}:{_coordinate(lat)}:{_coordinate(lon)}"


def geocode_forward(normalized_query: str, limit: int, language: str | None) -> str:
    """String: the cached places (a JSON list) for a normalized search text, limit and language.
    TTL: `geocoder_cache_ttl_s` (shorter for an empty list)."""
    parts = "\n".join((str(limit), language or "", normalized_query))
    return f"{PREFIX}geocode:search:{digest(parts)}"
