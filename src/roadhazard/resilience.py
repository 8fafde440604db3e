"""Calling a fallible HTTP service: timeouts, retries with backoff and jitter, a circuit breaker.

The Cloudinary store and the Nominatim geocoder share this. What counts as transient (worth a
retry) is decided once, here (`send`): a timeout, a refused or dropped connection, a 5xx, a
408, a 429 and Cloudinary's 420 (their `Retry-After` is honoured). Any other 4xx is permanent:
retrying cannot help.

The retry loop is tenacity's; which failures it retries (`_worth_retrying`) and how long it
waits (`RetryPolicy`'s full jitter, or the server's Retry-After) are decided here.
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
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base

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


def _worth_retrying(exc: BaseException, policy: RetryPolicy) -> bool:
    """Whether a failed call is tried again: a transient failure whose Retry-After (if any)
    the policy sleeps through. A longer Retry-After goes up with the error, so a background
    worker can come back later instead of holding a request open."""
    return (
        isinstance(exc, TransientError) and (exc.retry_after_s or 0.0) <= policy.max_retry_after_s
    )


class _PolicyWait(wait_base):
    """Tenacity's wait before each retry: the server's Retry-After when it gave one, else the
    policy's full-jitter backoff."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self._policy = policy
        self._rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after_s = failure.retry_after_s if isinstance(failure, DependencyError) else None
        return self._policy.delay_s(retry_state.attempt_number - 1, retry_after_s, self._rng)


async def call_with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random = _rng,
) -> T:
    """Runs `operation` under the breaker, retrying transient failures per `policy`.

    The breaker is asked before each attempt (tenacity's `before`), outside the attempt: its
    CircuitOpen goes up at once, neither retried nor counted as a failure.
    """

    def log_retry(retry_state: RetryCallState) -> None:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        log.info(
            "dependency_retry",
            dependency=breaker.name,
            error=str(failure),
            delay_s=retry_state.upcoming_sleep,
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=_PolicyWait(policy, rng),
        retry=retry_if_exception(lambda exc: _worth_retrying(exc, policy)),
        before=lambda _: breaker.before_call(),
        before_sleep=log_retry,
        sleep=sleep,
        reraise=True,
    )
    return await retrying(_attempt, operation, breaker)


async def _attempt(operation: Callable[[], Awaitable[T]], breaker: CircuitBreaker) -> T:
    """One call, its outcome told to the breaker."""
    try:
        result = await operation()
    except TransientError:
        breaker.record_failure()
        raise
    except BaseException:  # a permanent error still proves the service answers
        breaker.record_neutral()
        raise
    breaker.record_success()
    return result


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
