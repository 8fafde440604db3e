"""Retries with backoff, Retry-After, the circuit breaker and the classification of failures."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from roadhazard.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    PermanentError,
    RetryPolicy,
    TransientError,
    call_with_retries,
    retry_after_seconds,
    send,
)


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sleeps:
    """Records the delays asked for instead of sleeping through them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Script:
    """An operation that raises the scripted errors in turn, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


# RetryPolicy


@pytest.mark.parametrize("retry", [0, 1, 2, 3, 10])
def test_backoff_is_full_jitter_under_an_exponential_cap(retry: int) -> None:
    policy = RetryPolicy(base_delay_s=0.25, max_delay_s=5.0)
    rng = random.Random(7)
    cap = min(5.0, 0.25 * 2**retry)

    delays = [policy.delay_s(retry, None, rng) for _ in range(500)]

    assert all(0.0 <= delay <= cap for delay in delays)
    # Spread over the whole range, not stuck at one end: that is what de-synchronises clients.
    assert min(delays) < cap * 0.1
    assert max(delays) > cap * 0.9


def test_retry_after_wins_over_backoff_up_to_the_policy_limit() -> None:
    policy = RetryPolicy(max_retry_after_s=30.0)
    rng = random.Random(1)

    assert policy.delay_s(0, 12.0, rng) == 12.0
    assert policy.delay_s(0, 90.0, rng) == 30.0


# retry_after_seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 3 ", 3.0), ("0", 0.0), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_in_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

    in_90_s = retry_after_seconds("Sat, 01 Mar 2025 12:01:30 GMT", now=lambda: now)
    already_past = retry_after_seconds("Sat, 01 Mar 2025 11:00:00 GMT", now=lambda: now)

    assert in_90_s == 90.0
    assert already_past == 0.0


def test_a_non_ascii_digit_is_not_a_number_of_seconds() -> None:
    # "²".isdigit() is True, yet float("²") raises: the header must not crash the caller.
    assert retry_after_seconds("²") is None


# CircuitBreaker


def test_breaker_opens_after_the_threshold_and_fails_fast() -> None:
    clock = Clock()
    breaker = CircuitBreaker("dep", failure_threshold=3, reset_after_s=30.0, clock=clock)

    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()
    breaker.record_failure()

    assert breaker.state is BreakerState.OPEN
    assert breaker.consecutive_failures == 3
    with pytest.raises(CircuitOpen) as raised:
        breaker.before_call()
    assert raised.value.retry_after_s == 30.0


def test_a_success_resets_the_count_of_failures() -> None:
    breaker = CircuitBreaker("dep", failure_threshold=2, clock=Clock())

    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()

    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 1


def test_half_open_lets_one_trial_through_and_a_success_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("dep", failure_threshold=1, reset_after_s=30.0, clock=clock)
    breaker.record_failure()

    clock.advance(29.0)
    assert breaker.state is BreakerState.OPEN
    assert breaker.seconds_until_trial() == pytest.approx(1.0)
    clock.advance(1.0)
    assert breaker.state is BreakerState.HALF_OPEN

    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second caller while the trial runs
    breaker.record_success()

    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    breaker.before_call()


def test_a_failed_trial_opens_the_breaker_for_another_period() -> None:
    clock = Clock()
    breaker = CircuitBreaker("dep", failure_threshold=1, reset_after_s=30.0, clock=clock)
    breaker.record_failure()
    clock.advance(30.0)

    breaker.before_call()
    breaker.record_failure()

    assert breaker.state is BreakerState.OPEN
    clock.advance(29.0)
    assert breaker.state is BreakerState.OPEN
    clock.advance(1.0)
    assert breaker.state is BreakerState.HALF_OPEN


def test_a_neutral_trial_frees_the_slot_for_the_next_one() -> None:
    clock = Clock()
    breaker = CircuitBreaker("dep", failure_threshold=1, reset_after_s=30.0, clock=clock)
    breaker.record_failure()
    clock.advance(30.0)

    breaker.before_call()
    breaker.record_neutral()

    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()


# call_with_retries


async def test_transient_failures_are_retried_with_backoff_until_success() -> None:
    sleeps = Sleeps()
    breaker = CircuitBreaker("dep", clock=Clock())
    operation = Script(TransientError("down"), TransientError("down"))
    policy = RetryPolicy(attempts=3, base_delay_s=1.0, max_delay_s=10.0)

    result = await call_with_retries(
        operation, policy=policy, breaker=breaker, sleep=sleeps, rng=random.Random(3)
    )

    assert (result, operation.calls) == ("done", 3)
    assert len(sleeps.delays) == 2
    assert 0.0 <= sleeps.delays[0] <= 1.0
    assert 0.0 <= sleeps.delays[1] <= 2.0
    assert breaker.consecutive_failures == 0


async def test_the_last_transient_failure_goes_up_after_all_attempts() -> None:
    sleeps = Sleeps()
    breaker = CircuitBreaker("dep", failure_threshold=10, clock=Clock())
    operation = Script(*(TransientError(f"try {n}") for n in range(5)))

    with pytest.raises(TransientError, match="try 2"):
        await call_with_retries(
            operation, policy=RetryPolicy(attempts=3), breaker=breaker, sleep=sleeps
        )

    assert operation.calls == 3
    assert len(sleeps.delays) == 2
    assert breaker.consecutive_failures == 3


async def test_retry_after_is_slept_through() -> None:
    sleeps = Sleeps()
    operation = Script(TransientError("rate limited", retry_after_s=4.0))

    await call_with_retries(
        operation,
        policy=RetryPolicy(attempts=2),
        breaker=CircuitBreaker("dep", clock=Clock()),
        sleep=sleeps,
    )

    assert sleeps.delays == [4.0]


async def test_a_retry_after_beyond_the_policy_goes_up_at_once() -> None:
    sleeps = Sleeps()
    operation = Script(TransientError("come back tomorrow", retry_after_s=86400.0))

    with pytest.raises(TransientError) as raised:
        await call_with_retries(
            operation,
            policy=RetryPolicy(attempts=5, max_retry_after_s=30.0),
            breaker=CircuitBreaker("dep", clock=Clock()),
            sleep=sleeps,
        )

    assert raised.value.retry_after_s == 86400.0
    assert (operation.calls, sleeps.delays) == (1, [])


async def test_a_permanent_error_is_not_retried_and_does_not_count_against_the_breaker() -> None:
    sleeps = Sleeps()
    breaker = CircuitBreaker("dep", failure_threshold=1, clock=Clock())
    operation = Script(PermanentError("bad request", status_code=400))

    with pytest.raises(PermanentError):
        await call_with_retries(
            operation, policy=RetryPolicy(attempts=3), breaker=breaker, sleep=sleeps
        )

    assert (operation.calls, sleeps.delays) == (1, [])
    assert breaker.state is BreakerState.CLOSED


async def test_an_open_breaker_fails_fast_without_calling() -> None:
    breaker = CircuitBreaker("dep", failure_threshold=1, clock=Clock())
    breaker.record_failure()
    operation = Script()

    with pytest.raises(CircuitOpen):
        await call_with_retries(
            operation, policy=RetryPolicy(attempts=3), breaker=breaker, sleep=Sleeps()
        )

    assert operation.calls == 0


async def test_the_breaker_opening_mid_retries_stops_them() -> None:
    sleeps = Sleeps()
    breaker = CircuitBreaker("dep", failure_threshold=2, clock=Clock())
    operation = Script(*(TransientError("down") for _ in range(5)))

    with pytest.raises(CircuitOpen):
        await call_with_retries(
            operation, policy=RetryPolicy(attempts=5), breaker=breaker, sleep=sleeps
        )

    assert operation.calls == 2


# send: how HTTP outcomes are classified


def _client(status: int, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, json={})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize("status", [408, 420, 429, 500, 502, 503])
async def test_statuses_worth_a_retry_are_transient(status: int) -> None:
    async with _client(status, {"Retry-After": "7"}) as client:
        with pytest.raises(TransientError) as raised:
            await send(client, "GET", "http://dep.test/x", dependency="Dep")

    assert str(raised.value) == f"Dep answered {status}"
    assert raised.value.retry_after_s == 7.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_client_errors_are_permanent(status: int) -> None:
    async with _client(status) as client:
        with pytest.raises(PermanentError) as raised:
            await send(client, "GET", "http://dep.test/x", dependency="Dep")

    assert raised.value.status_code == status


async def test_transport_failures_are_transient_and_name_no_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    url = "http://user:hunter2@dep.test/x?token=hunter2"
    for handler, words in ((refuse, "unreachable (ConnectError)"), (stall, "timed out")):
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            with pytest.raises(TransientError) as raised:
                await send(client, "GET", url, dependency="Dep")
        assert words in str(raised.value)
        assert "hunter2" not in str(raised.value)
        assert raised.value.__suppress_context__


def test_http_date_in_the_past_relative_to_now_is_zero() -> None:
    past = datetime.now(UTC) - timedelta(minutes=5)

    assert retry_after_seconds(past.strftime("%a, %d %b %Y %H:%M:%S GMT")) == 0.0
