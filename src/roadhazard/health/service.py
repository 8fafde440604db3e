"""A registry of named readiness checks, run concurrently, each under its own timeout.

Probes can arrive many times a second from several load balancers; results are cached for a
short while and concurrent probes share one evaluation, so dependencies are not hammered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from roadhazard.checks import CheckResult, CheckStatus
from roadhazard.observability import metrics

log = structlog.get_logger(__name__)

Check = Callable[[], Awaitable[CheckResult]]


@dataclass(frozen=True)
class RegisteredCheck:
    name: str
    check: Check
    timeout_s: float
    required: bool


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, CheckResult]


class ReadinessRegistry:
    """Ready means no required check is unhealthy; optional checks only inform."""

    def __init__(self, *, cache_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._checks: dict[str, RegisteredCheck] = {}
        self._cache_s = cache_s
        self._clock = clock
        self._cached: tuple[float, Readiness] | None = None
        self._inflight: asyncio.Task[Readiness] | None = None
        self._shutting_down = False

    def register(self, name: str, check: Check, *, timeout_s: float, required: bool) -> None:
        if name in self._checks:
            raise ValueError(f"readiness check {name!r} is already registered")
        self._checks[name] = RegisteredCheck(name, check, timeout_s, required)

    def mark_shutting_down(self) -> None:
        """From now on the service reports not ready, so load balancers drain it."""
        self._shutting_down = True
        self._cached = None

    async def evaluate(self) -> Readiness:
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._cache_s:
            return self._cached[1]
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self._evaluate_now(), name="readiness")
        return await asyncio.shield(self._inflight)

    async def _evaluate_now(self) -> Readiness:
        checks = list(self._checks.values())
        results = await asyncio.gather(*(self._run_one(c) for c in checks))
        by_name = {c.name: r for c, r in zip(checks, results, strict=True)}
        ready = not self._shutting_down and all(
            r.status is not CheckStatus.UNHEALTHY
            for c, r in zip(checks, results, strict=True)
            if c.required
        )
        readiness = Readiness(ready, by_name)
        metrics.set_check_statuses({name: result.status for name, result in by_name.items()})
        self._cached = (self._clock(), readiness)
        return readiness

    async def _run_one(self, registered: RegisteredCheck) -> CheckResult:
        try:
            return await asyncio.wait_for(registered.check(), registered.timeout_s)
        except TimeoutError:
            detail = f"no answer within {registered.timeout_s:g} s"
        except Exception:  # a broken check must not break the probe; its traceback is logged
            log.exception("readiness_check_failed", check=registered.name)
            detail = "the check itself failed; see the service log"
        return CheckResult(status=CheckStatus.UNHEALTHY, detail=detail)
