"""Calling a fallible HTTP service: timeouts, retries with backoff and jitter, a circuit breaker.

The Cloudinary store and the Nominatim geocoder share this. What counts as transient (worth a
retry) is decided once, here: a timeout, a refused or dropped connection, a 5xx, a 408, a 429
and Cloudinary's 420 (their `Retry-After` is honoured). Any other 4xx is permanent: retrying
cannot help.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class DependencyError(Exception):
    """A dependency failed; the message is safe to log and to show (it never holds a secret)."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TransientError(DependencyError):
    """Worth retrying later: the dependency is slow, down, overloaded or rate limiting us."""


class PermanentError(DependencyError):
    """Retrying the same request cannot succeed (bad credentials, a rejected payload)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class CircuitOpen(TransientError):
    """The breaker is open: the call was not even tried."""


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Opens after `failure_threshold` transient failures in a row; after `reset_after_s` lets
    one trial call through (half open), which closes it on success or opens it again.

    Per process: each worker learns of an outage from its own calls, which is what a breaker
    is for; the durable part of an outage (the work still to do) lives in Redis.
    """

    name: str
    failure_threshold: int = 5
    reset_after_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _failures: int = field(default=0, init=False)
    _opened_at: float | None = field(default=None, init=False)
    _trial_running: bool = field(default=False, init=False)

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self._opened_at < self.reset_after_s:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def seconds_until_trial(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.reset_after_s - (self.clock() - self._opened_at))

    def before_call(self) -> None:
        """Raises CircuitOpen unless a call may go ahead now."""
        state = self.state
        if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._trial_running):
            raise CircuitOpen(
                f"{self.name} is unavailable (circuit open after {self._failures} failures)",
                retry_after_s=max(1.0, self.seconds_until_trial()),
            )
        if state is BreakerState.HALF_OPEN:
            self._trial_running = True

    def record_success(self) -> None:
        if self._opened_at is not None:
            log.info("circuit_closed", dependency=self.name)
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._failures += 1
        self._trial_running = False
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            if self.state is not BreakerState.OPEN:
                log.warning("circuit_opened", dependency=self.name, failures=self._failures)
            self._opened_at = self.clock()

    def record_neutral(self) -> None:
        """The call ended without telling us about the dependency's health (a permanent error
        still proves the service answers)."""
        self._trial_running = False


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all; before each retry, sleep a random time up to an exponentially
    growing cap ("full jitter"), or the server's Retry-After when it gave one."""

    attempts: int = 3
    base_delay_s: float = 0.25
    max_delay_s: float = 5.0
    max_retry_after_s: float = 30.0

    def delay_s(self, retry: int, retry_after_s: float | None, rng: random.Random) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, self.max_retry_after_s)
        cap = min(self.max_delay_s, self.base_delay_s * 2**retry)
        return rng.uniform(0, cap)


_rng = random.Random()
_TRANSIENT_STATUSES = frozenset({408, 420, 429})


async def call_with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random = _rng,
) -> T:
    """Runs `operation` under the breaker, retrying transient failures per `policy`.

    A Retry-After longer than the policy allows is not slept through: the error goes up with
    it, so a background worker can come back later instead of holding a request open.
    """
    for retry in range(policy.attempts):
        breaker.before_call()
        try:
            result = await operation()
        except PermanentError:
            breaker.record_neutral()
            raise
        except TransientError as exc:
            breaker.record_failure()
            last_try = retry + 1 >= policy.attempts
            too_long = (exc.retry_after_s or 0.0) > policy.max_retry_after_s
            if last_try or too_long:
                raise
            delay = policy.delay_s(retry, exc.retry_after_s, rng)
            log.info("dependency_retry", dependency=breaker.name, error=str(exc), delay_s=delay)
            await sleep(delay)
            continue
        except BaseException:
            breaker.record_neutral()
            raise
        breaker.record_success()
        return result
    raise AssertionError("unreachable: the last attempt returns or raises")


def retry_after_seconds(
    value: str | None, now: Callable[[], datetime] | None = None
) -> float | None:
    """Parses Retry-After: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    # isascii() too: str.isdigit() accepts digits such as "²" that float() then refuses.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = now() if now else datetime.now(UTC)
    return max(0.0, (moment - current).total_seconds())


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    dependency: str,
    **kwargs: Any,
) -> httpx.Response:
    """One HTTP exchange, with every failure turned into a Transient- or PermanentError.

    Messages name the dependency and the failure, never the URL's query or a header: those
    may carry credentials.
    """
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientError(f"{dependency} timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise TransientError(f"{dependency} is unreachable ({type(exc).__name__})") from None
    status = response.status_code
    if status in _TRANSIENT_STATUSES or status >= 500:
        raise TransientError(
            f"{dependency} answered {status}",
            retry_after_s=retry_after_seconds(response.headers.get("retry-after")),
        )
    if status >= 400:
        raise PermanentError(f"{dependency} answered {status}", status_code=status)
    return response
