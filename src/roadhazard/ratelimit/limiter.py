"""Per-client rate limits whose counts live in Redis, so every worker on every host shares them.

Time comes from the Redis server (TIME, read inside the script): processes on several hosts
then agree on where a window starts without trusting their clocks to agree. With the callers'
clocks, a host a second fast would roll a client's window early for everyone. Tests may pass a
`clock` instead, to slide windows without sleeping.

When Redis fails, the limiter fails open: a request is admitted unchecked rather than refused,
since readiness already reports Redis and rate limiting must not take the API down with it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from roadhazard.ratelimit import keys
from roadhazard.ratelimit.script import SLIDING_WINDOW
from roadhazard.settings import Settings

log = structlog.get_logger(__name__)

RateGroup = Literal["detect", "frames", "reports", "reads"]
RATE_GROUPS: tuple[RateGroup, ...] = get_args(RateGroup)

# A check normally takes a millisecond; past this the request goes on unchecked, so a Redis
# that hangs adds at most this much to a detection that does not otherwise need Redis.
DEFAULT_TIMEOUT_S = 0.25
# After a failure, requests skip Redis for this long: in an outage, one request a second pays
# the timeout above, not all of them.
DEFAULT_PAUSE_S = 1.0
# At most one warning per interval, however many requests an outage admits unchecked.
DEFAULT_WARN_EVERY_S = 60.0


@dataclass(frozen=True)
class RateDecision:
    """The answer for one request: admitted or not, how many more fit, and how long to wait.

    `wait_ms` is, for an admitted request, the time until the current window closes; for a
    refused one, the time until the next request would be admitted.
    """

    admitted: bool
    limit: int
    remaining: int
    wait_ms: int

    @property
    def wait_s(self) -> int:
        """`wait_ms` in whole seconds, rounded up and at least 1, as Retry-After wants them."""
        return max(1, math.ceil(self.wait_ms / 1000))


class _Outage:
    """Remembers Redis failures: pauses checks briefly, and warns at most once an interval."""

    def __init__(self, *, pause_s: float, warn_every_s: float) -> None:
        self._pause_s = pause_s
        self._warn_every_s = warn_every_s
        self._paused_until = 0.0
        self._next_warning = 0.0
        self._unchecked = 0
        self._failing = False

    def paused(self) -> bool:
        if time.monotonic() < self._paused_until:
            self._unchecked += 1
            return True
        return False

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._paused_until = now + self._pause_s
        self._unchecked += 1
        self._failing = True
        if now >= self._next_warning:
            self._next_warning = now + self._warn_every_s
            # The class only: a Redis error's message can quote the server's address.
            log.warning(
                "rate_limit_unavailable", error=type(exc).__name__, admitted=self._unchecked
            )
            self._unchecked = 0

    def succeeded(self) -> None:
        if self._failing:
            self._failing = False
            log.info("rate_limit_recovered", admitted=self._unchecked)
            self._unchecked = 0
            self._next_warning = 0.0


class RateLimiter:
    """Counts requests per client and group in Redis; one instance per process, shared by all
    of its requests. A group's limit of 0 means unlimited, and costs no Redis call."""

    def __init__(
        self,
        redis: Redis,
        limits: Mapping[RateGroup, int],
        *,
        window_s: int,
        enabled: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        pause_s: float = DEFAULT_PAUSE_S,
        warn_every_s: float = DEFAULT_WARN_EVERY_S,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if window_s < 1:
            raise ValueError("the rate limit window must be at least 1 s")
        if any(limit < 0 for limit in limits.values()):
            raise ValueError("rate limits must be 0 (unlimited) or more")
        unknown = set(limits) - set(RATE_GROUPS)
        if unknown:
            raise ValueError(f"unknown rate limit groups: {sorted(unknown)}")
        self.window_s = window_s
        self.enabled = enabled
        self._limits = dict(limits)
        self._script = SLIDING_WINDOW.registered_on(redis)
        self._timeout_s = timeout_s
        self._clock = clock
        self._outage = _Outage(pause_s=pause_s, warn_every_s=warn_every_s)

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis) -> RateLimiter:
        limits: dict[RateGroup, int] = {
            "detect": settings.rate_limit_detect,
            "frames": settings.rate_limit_frames,
            "reports": settings.rate_limit_reports,
            "reads": settings.rate_limit_reads,
        }
        return cls(
            redis,
            limits,
            window_s=settings.rate_limit_window_s,
            enabled=settings.rate_limit_enabled,
        )

    def limit_of(self, group: RateGroup) -> int:
        """Requests per window for the group; 0 when it is unlimited or limiting is off."""
        return self._limits.get(group, 0) if self.enabled else 0

    async def check(self, group: RateGroup, identity: str) -> RateDecision | None:
        """Counts one request of `identity` in `group` if it fits the limit.

        None means the request was not checked, and goes on: the group is unlimited, or Redis
        failed (fail open).
        """
        limit = self.limit_of(group)
        if limit == 0 or self._outage.paused():
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                reply = await self._script(
                    keys=[keys.rate_limit_counter(group, identity)],
                    args=[limit, self.window_s * 1000, self._now_ms()],
                )
        except (RedisError, OSError, TimeoutError) as exc:
            self._outage.failed(exc)
            return None
        self._outage.succeeded()
        return _decision(limit, reply)

    def _now_ms(self) -> int | str:
        # Empty: the script reads the Redis server's clock.
        return "" if self._clock is None else round(self._clock() * 1000)


def _decision(limit: int, reply: Any) -> RateDecision:
    admitted, remaining, wait_ms = (int(value) for value in reply)
    return RateDecision(bool(admitted), limit, max(0, remaining), max(0, wait_ms))
