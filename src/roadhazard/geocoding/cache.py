"""Redis for the geocoder: a cache of answers, and one request slot per interval for all workers.

Both are helpers to a lookup, never a reason for one to fail: a cache that cannot be read is a
miss, and a provider throttle that cannot reach Redis falls back to spacing this process alone.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from roadhazard.geocoding import keys
from roadhazard.geocoding.schemas import Address, Place
from roadhazard.redis.lua import LuaScript

log = structlog.get_logger(__name__)

T = TypeVar("T")

# "Nothing here" is cached for at most a day: the map may gain the street soon.
MISS_TTL_CAP_S = 24 * 60 * 60


@dataclass(frozen=True)
class Hit(Generic[T]):
    """A cached answer; `value` may itself be "no result" (None or an empty list)."""

    value: T


def normalize_query(query: str) -> str:
    """Whitespace collapsed; case is kept for the provider and folded only in the cache key."""
    return " ".join(query.split())


def encode_address(address: Address | None) -> str:
    return "null" if address is None else address.to_json()


def decode_address(raw: str) -> Address | None:
    return None if raw == "null" else Address.from_json(raw)


def encode_places(places: list[Place]) -> str:
    return json.dumps([p.to_dict() for p in places], ensure_ascii=False, separators=(",", ":"))


def decode_places(raw: str) -> list[Place]:
    items = json.loads(raw)
    if not isinstance(items, list):
        raise ValueError("cached places are a JSON list")
    return [Place.from_dict(item) for item in items]


class GeocodeCache:
    """Answers by key; `ttl_s` 0 turns caching off."""

    def __init__(self, redis: Redis, *, ttl_s: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self._miss_ttl_s = min(ttl_s, MISS_TTL_CAP_S)

    async def get(self, key: str, decode: Callable[[str], T]) -> Hit[T] | None:
        if self._ttl_s <= 0:
            return None
        try:
            raw = await self._redis.get(key)
        except (RedisError, OSError) as exc:
            log.warning("geocoder_cache_unavailable", action="get", error=type(exc).__name__)
            return None
        if raw is None:
            return None
        try:
            return Hit(decode(raw.decode() if isinstance(raw, bytes) else raw))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError too: a miss, never a 500
            log.warning("geocoder_cache_unreadable", key=key)
            return None

    async def put(self, key: str, raw: str, *, found: bool) -> None:
        if self._ttl_s <= 0:
            return
        try:
            await self._redis.set(key, raw, ex=self._ttl_s if found else self._miss_ttl_s)
        except (RedisError, OSError) as exc:
            log.warning("geocoder_cache_unavailable", action="put", error=type(exc).__name__)


class SlotUnavailable(Exception):
    """The next free request slot is further away than the caller may wait."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"the next geocoder request slot is {wait_s:.1f} s away")
        self.wait_s = wait_s


# Both read Redis's clock, not each worker's, so skew between machines cannot break the spacing.
_RESERVE_SLOT = LuaScript("roadhazard.geocoding", "reserve_slot.lua")
_DEFER_SLOT = LuaScript("roadhazard.geocoding", "defer_slot.lua")

# A provider's Retry-After beyond this is not shared through Redis; the breaker covers it.
MAX_DEFER_S = 3600.0


class ProviderThrottle:
    """At most one request per `interval_s` to the provider, across every worker process.

    Without Redis each process spaces its own requests `fallback_interval_s` apart (the interval
    times the number of workers), which keeps the total within the limit.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        interval_s: float,
        fallback_interval_s: float,
        key: str = keys.GEOCODER_NEXT_SLOT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval_ms = round(interval_s * 1000)
        self._fallback_interval_s = fallback_interval_s
        self._key = key
        self._clock = clock
        self._reserve = _RESERVE_SLOT.registered_on(redis)
        self._defer = _DEFER_SLOT.registered_on(redis)
        self._local_next = 0.0

    async def acquire(self, max_wait_s: float) -> None:
        """Reserves a slot and sleeps until it comes; SlotUnavailable if it is too far away."""
        if self._interval_ms <= 0:
            return
        wait_s = await self._reserve_slot(max_wait_s)
        if wait_s > 0:
            await asyncio.sleep(wait_s)

    async def _reserve_slot(self, max_wait_s: float) -> float:
        try:
            granted, wait_ms = await self._reserve(
                keys=[self._key], args=[self._interval_ms, round(max_wait_s * 1000)]
            )
        except (RedisError, OSError) as exc:
            log.warning("geocoder_rate_limiter_local", error=type(exc).__name__)
            return self._reserve_local(max_wait_s)
        if not granted:
            raise SlotUnavailable(int(wait_ms) / 1000)
        return int(wait_ms) / 1000

    def _reserve_local(self, max_wait_s: float) -> float:
        now = self._clock()
        slot = max(now, self._local_next)
        if slot - now > max_wait_s:
            raise SlotUnavailable(slot - now)
        self._local_next = slot + self._fallback_interval_s
        return slot - now

    async def defer(self, seconds: float) -> None:
        """Holds every worker's next request back by `seconds` (a provider's Retry-After)."""
        delay_ms = round(min(seconds, MAX_DEFER_S) * 1000)
        self._local_next = max(self._local_next, self._clock() + delay_ms / 1000)
        if self._interval_ms <= 0 or delay_ms <= 0:
            return
        try:
            await self._defer(keys=[self._key], args=[delay_ms])
        except (RedisError, OSError) as exc:
            log.warning("geocoder_rate_limiter_local", error=type(exc).__name__)
