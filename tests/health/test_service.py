"""The readiness registry: concurrency, timeouts, failures, caching and shutdown."""

from __future__ import annotations

import asyncio

from roadhazard.checks import CheckResult, CheckStatus
from roadhazard.health.service import ReadinessRegistry

HEALTHY = CheckResult(status=CheckStatus.HEALTHY, detail="fine")
DEGRADED = CheckResult(status=CheckStatus.DEGRADED, detail="slow")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_checks_run_concurrently_each_under_its_own_timeout() -> None:
    registry = ReadinessRegistry(cache_s=0)

    async def hangs() -> CheckResult:
        await asyncio.sleep(10)
        return HEALTHY

    async def quick() -> CheckResult:
        return HEALTHY

    registry.register("hangs", hangs, timeout_s=0.05, required=False)
    registry.register("quick", quick, timeout_s=1, required=True)

    # Far less than the hanging check's 10 s, however busy the machine.
    result = await asyncio.wait_for(registry.evaluate(), 5)

    assert result.ready is True
    assert result.checks["hangs"] == CheckResult(
        status=CheckStatus.UNHEALTHY, detail="no answer within 0.05 s"
    )


async def test_required_unhealthy_fails_readiness_but_degraded_does_not() -> None:
    registry = ReadinessRegistry(cache_s=0)

    async def broken() -> CheckResult:
        raise ConnectionError("redis down")

    async def degraded() -> CheckResult:
        return DEGRADED

    registry.register("store", degraded, timeout_s=1, required=True)
    registry.register("redis", broken, timeout_s=1, required=True)

    result = await registry.evaluate()

    assert result.ready is False
    assert result.checks["store"] == DEGRADED
    assert result.checks["redis"].status is CheckStatus.UNHEALTHY
    assert "redis down" not in result.checks["redis"].detail


async def test_results_are_cached_and_shared_between_concurrent_probes() -> None:
    clock = Clock()
    registry = ReadinessRegistry(cache_s=1.0, clock=clock)
    calls: list[int] = []

    async def slow() -> CheckResult:
        calls.append(1)
        await asyncio.sleep(0.02)
        return HEALTHY

    registry.register("dep", slow, timeout_s=1, required=True)

    await asyncio.gather(*(registry.evaluate() for _ in range(5)))
    await registry.evaluate()
    clock.now += 1.5
    await registry.evaluate()

    assert len(calls) == 2


async def test_shutting_down_is_not_ready() -> None:
    registry = ReadinessRegistry(cache_s=10)

    async def fine() -> CheckResult:
        return HEALTHY

    registry.register("dep", fine, timeout_s=1, required=True)
    assert (await registry.evaluate()).ready is True

    registry.mark_shutting_down()

    assert (await registry.evaluate()).ready is False
