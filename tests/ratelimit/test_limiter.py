"""The limiter against a real Redis: counting, sliding, sharing, separating and expiring."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest
from redis.asyncio import Redis

from roadhazard.ratelimit import RateDecision, RateGroup, RateLimiter, keys
from roadhazard.redis import create_client
from roadhazard.settings import Settings
from tests.ratelimit.conftest import START_S, Clock

WINDOW_S = 10


def limiter(
    redis: Redis, clock: Clock | None = None, limits: Mapping[RateGroup, int] | None = None
) -> RateLimiter:
    return RateLimiter(redis, limits or {"detect": 3}, window_s=WINDOW_S, clock=clock)


async def checked(limiter: RateLimiter, identity: str = "ip:192.0.2.1") -> RateDecision:
    decision = await limiter.check("detect", identity)
    assert decision is not None
    return decision


async def test_admits_the_limit_then_refuses_with_a_wait(redis: Redis) -> None:
    detect = limiter(redis)  # the Redis server's clock

    decisions = [await checked(detect) for _ in range(4)]

    assert [d.admitted for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1]
    assert 0 < refused.wait_ms <= 2 * WINDOW_S * 1000
    assert 1 <= refused.wait_s <= 2 * WINDOW_S


async def test_the_window_slides(redis: Redis, clock: Clock) -> None:
    detect = limiter(redis, clock, {"detect": 4})
    for _ in range(4):
        assert (await checked(detect)).admitted

    clock.advance(WINDOW_S)  # the next window; the last one still counts in full
    refused = await checked(detect)
    assert not refused.admitted
    # 4 * (1 - elapsed / 10 s) + 1 <= 4 first holds 2.5 s into the window.
    assert refused.wait_ms == 2500
    assert refused.wait_s == 3

    clock.advance(2.499)
    assert not (await checked(detect)).admitted
    clock.advance(0.001)
    assert (await checked(detect)).admitted


async def test_a_refused_request_is_not_counted(redis: Redis, clock: Clock) -> None:
    detect = limiter(redis, clock, {"detect": 1})
    assert (await checked(detect)).admitted
    for _ in range(20):
        assert not (await checked(detect)).admitted

    clock.advance(2 * WINDOW_S)
    assert (await checked(detect)).admitted


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_wait_is_exact(redis: Redis, clock: Clock, seed: int) -> None:
    """Whenever a request is refused, one millisecond before the wait is still too soon, and the
    wait itself is soon enough."""
    rng = random.Random(seed)
    detect = limiter(redis, clock, {"detect": rng.randint(1, 7)})
    refusals = 0
    for _ in range(150):
        clock.advance(rng.choice([0, 0, 0.05, 0.4, 1.3, 3.7]))
        decision = await checked(detect)
        if decision.admitted:
            continue
        refusals += 1
        clock.advance((decision.wait_ms - 1) / 1000)
        assert not (await checked(detect)).admitted
        clock.advance(0.001)
        assert (await checked(detect)).admitted
    assert refusals > 5


async def test_processes_share_the_count(redis: Redis, redis_url: str) -> None:
    # Two limiters over two clients: two worker processes, as Redis sees them.
    other_process = create_client(redis_url, socket_timeout_s=5, connect_timeout_s=5, retries=1)
    try:
        first, second = limiter(redis), limiter(other_process)
        assert (await checked(first)).admitted
        assert (await checked(second)).admitted
        assert (await checked(first)).remaining == 0
        assert not (await checked(second)).admitted
    finally:
        await other_process.aclose()


async def test_identities_and_groups_have_their_own_budgets(redis: Redis) -> None:
    shared = limiter(redis, limits={"detect": 1, "reads": 1})
    assert (await checked(shared, "key:aaaa1111")).admitted
    assert not (await checked(shared, "key:aaaa1111")).admitted
    assert (await checked(shared, "key:bbbb2222")).admitted
    assert (await checked(shared, "ip:192.0.2.1")).admitted
    assert (await checked(shared, "ip:192.0.2.2")).admitted
    reads = await shared.check("reads", "key:aaaa1111")
    assert reads is not None
    assert reads.admitted


async def test_a_counter_expires_after_the_next_window(redis: Redis, clock: Clock) -> None:
    clock.advance(3)  # 3 s into a window
    await checked(limiter(redis, clock))

    key = keys.rate_limit_counter("detect", "ip:192.0.2.1")
    assert key.startswith("rh:{rl:detect:")
    assert 0 < await redis.pttl(key) <= (2 * WINDOW_S - 3) * 1000
    assert await redis.hgetall(key) == {"w": str(int(START_S + 3) // WINDOW_S), "c": "1", "p": "0"}


async def test_a_clock_that_steps_back_keeps_the_count(redis: Redis, clock: Clock) -> None:
    detect = limiter(redis, clock, {"detect": 2})
    clock.advance(WINDOW_S)
    await checked(detect)
    await checked(detect)
    clock.advance(-WINDOW_S)  # another host, behind by a window
    assert not (await checked(detect)).admitted


async def test_an_unlimited_or_disabled_group_costs_no_redis_call(redis: Redis) -> None:
    unlimited = limiter(redis, limits={"detect": 0})
    disabled = RateLimiter(redis, {"detect": 5}, window_s=WINDOW_S, enabled=False)

    assert await unlimited.check("detect", "ip:192.0.2.1") is None
    assert await disabled.check("detect", "ip:192.0.2.1") is None
    assert await unlimited.check("reads", "ip:192.0.2.1") is None  # a group with no limit given
    assert await redis.dbsize() == 0


def test_from_settings(redis: Redis) -> None:
    settings = Settings(
        _env_file=None,
        rate_limit_window_s=30,
        rate_limit_detect=7,
        rate_limit_frames=0,
    )
    built = RateLimiter.from_settings(settings, redis)
    assert built.window_s == 30
    assert built.limit_of("detect") == 7
    assert built.limit_of("frames") == 0
    assert built.limit_of("reports") == 60
    assert built.limit_of("reads") == 600


def test_rejects_nonsense(redis: Redis) -> None:
    with pytest.raises(ValueError, match="window"):
        RateLimiter(redis, {"detect": 1}, window_s=0)
    with pytest.raises(ValueError, match="0 \\(unlimited\\) or more"):
        RateLimiter(redis, {"detect": -1}, window_s=1)
    with pytest.raises(ValueError, match="unknown"):
        RateLimiter(redis, {"detekt": 1}, window_s=1)  # type: ignore[dict-item]
