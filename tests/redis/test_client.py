"""The client against real servers: bounded calls, retries, readiness, and no leaked secrets."""

from __future__ import annotations

import time
import uuid

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from roadhazard.checks import CheckStatus
from roadhazard.redis import create_client, redact_url, redis_readiness_check
from roadhazard.reports import keys
from tests.redis.conftest import HangingServer, delete_keys

SECRET = "s3cret-Pa55word"

# The machine is small and shared with a training job: bounds are several times what they need.
SLACK_S = 3.0


async def test_round_trip_and_readiness_against_a_real_server(server_url: str) -> None:
    client = create_client(server_url, socket_timeout_s=2, connect_timeout_s=2, retries=2)
    report_key = keys.report(f"test-{uuid.uuid4().hex}")
    created = [report_key, keys.REPORTS_BY_TIME]
    existed = await client.exists(keys.REPORTS_BY_TIME)
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(report_key, mapping={"class": "pothole", "state": "open"})
            pipe.zadd(keys.REPORTS_BY_TIME, {report_key: 1_700_000_000})
            await pipe.execute()

        assert await client.hgetall(report_key) == {"class": "pothole", "state": "open"}
        assert await client.zscore(keys.REPORTS_BY_TIME, report_key) == 1_700_000_000
        result = await redis_readiness_check(client)
        assert result.status is CheckStatus.HEALTHY
        assert result.detail.startswith("PONG in ")
    finally:
        # Only what this test made: the index is kept, minus our member, if it was there before.
        if existed:
            await client.zrem(keys.REPORTS_BY_TIME, report_key)
            created.remove(keys.REPORTS_BY_TIME)
        await delete_keys(client, created)
        await client.aclose()


async def test_a_silent_server_times_out_instead_of_hanging(hanging_server: HangingServer) -> None:
    client = create_client(
        hanging_server.url(), socket_timeout_s=0.3, connect_timeout_s=0.3, retries=0
    )
    started = time.monotonic()
    try:
        with pytest.raises(RedisTimeoutError):
            await client.get("rh:anything")
    finally:
        await client.aclose()
    assert time.monotonic() - started < 0.3 + SLACK_S


async def test_timeouts_are_retried_with_backoff_then_given_up(
    hanging_server: HangingServer,
) -> None:
    client = create_client(
        hanging_server.url(), socket_timeout_s=0.2, connect_timeout_s=0.2, retries=2
    )
    started = time.monotonic()
    try:
        with pytest.raises(RedisTimeoutError):
            await client.get("rh:anything")
    finally:
        await client.aclose()
    # Three attempts of 0.2 s plus backoffs of 0.1 s and 0.2 s, each on a fresh connection.
    assert 0.6 <= time.monotonic() - started < 0.9 + SLACK_S
    assert hanging_server.connections == 3


async def test_readiness_is_unhealthy_not_raising_when_the_server_hangs(
    hanging_server: HangingServer,
) -> None:
    url = hanging_server.url(f"roadhazard:{SECRET}@")
    client = create_client(url, socket_timeout_s=5, connect_timeout_s=5, retries=3)
    started = time.monotonic()
    try:
        result = await redis_readiness_check(client, timeout_s=0.3)
    finally:
        await client.aclose()
    assert time.monotonic() - started < 0.3 + SLACK_S
    assert result.status is CheckStatus.UNHEALTHY
    assert result.detail == "no PONG within 0.3 s"


async def test_readiness_is_unhealthy_when_nothing_listens(closed_port: int) -> None:
    url = f"redis://roadhazard:{SECRET}@127.0.0.1:{closed_port}/0"
    client = create_client(url, socket_timeout_s=0.5, connect_timeout_s=0.5, retries=1)
    try:
        result = await redis_readiness_check(client, timeout_s=SLACK_S)
    finally:
        await client.aclose()
    assert result.status is CheckStatus.UNHEALTHY
    assert result.detail == "PING failed: ConnectionError"
    assert SECRET not in result.detail
    assert str(closed_port) not in result.detail


async def test_a_wrong_password_is_unhealthy_without_echoing_it(server_url: str) -> None:
    # The embedded server and the test machine's have no password: AUTH itself fails.
    scheme, rest = server_url.split("://", 1)
    if scheme == "unix":
        url = f"unix://roadhazard:{SECRET}@{rest}"
    else:
        url = f"{scheme}://roadhazard:{SECRET}@{rest}"
    client = create_client(url, socket_timeout_s=2, connect_timeout_s=2, retries=0)
    try:
        result = await redis_readiness_check(client, timeout_s=SLACK_S)
    finally:
        await client.aclose()
    assert result.status is CheckStatus.UNHEALTHY
    assert result.detail.startswith("PING failed: ")
    assert SECRET not in result.detail


def test_timeouts_must_be_bounded() -> None:
    with pytest.raises(ValueError, match="positive"):
        create_client(
            "redis://127.0.0.1:6379/0", socket_timeout_s=0, connect_timeout_s=1, retries=0
        )
    with pytest.raises(ValueError, match="retries"):
        create_client(
            "redis://127.0.0.1:6379/0", socket_timeout_s=1, connect_timeout_s=1, retries=-1
        )


def test_a_client_carries_its_timeouts_and_retry_policy() -> None:
    client = create_client(
        "redis://127.0.0.1:6379/13", socket_timeout_s=1.5, connect_timeout_s=0.5, retries=4
    )
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 1.5
    assert kwargs["socket_connect_timeout"] == 0.5
    assert kwargs["retry"].get_retries() == 4


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{SECRET}@cache.internal:6380/2", "redis://:***@cache.internal:6380/2"),
        (f"rediss://app:{SECRET}@[::1]:6379/0", "rediss://app:***@[::1]:6379/0"),
        (
            f"redis://cache.internal/0?password={SECRET}&db=3",
            "redis://cache.internal/0?password=***&db=3",
        ),
        ("unix:///var/run/redis.sock?db=1", "unix:///var/run/redis.sock?db=1"),
        ("redis://cache.internal:6379", "redis://cache.internal:6379"),
    ],
)
def test_redact_url_hides_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
