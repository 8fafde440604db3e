"""The one redis.asyncio client of a process: bounded timeouts, retries with backoff, readiness.

Retrying on TimeoutError means a write whose reply was lost may run twice; that is why writes
must be idempotent (SET NX, idempotency keys, Lua scripts that check before they change).
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from roadhazard.checks import CheckResult, CheckStatus

# The first retry waits 50 ms, and no wait exceeds 1 s: long enough for a restarting server or
# a failover to answer, short enough that a request does not outlive its client's patience.
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 1.0


def create_client(
    url: str,
    *,
    socket_timeout_s: float,
    connect_timeout_s: float,
    retries: int,
    max_connections: int | None = None,
) -> Redis:
    """Builds a client and its connection pool; nothing connects until the first command.

    Every command is bounded: at most `retries + 1` attempts, each under `connect_timeout_s`
    and `socket_timeout_s`, separated by exponential backoff.
    """
    if socket_timeout_s <= 0 or connect_timeout_s <= 0:
        raise ValueError("Redis timeouts must be positive; an unbounded call can hang a request")
    if retries < 0:
        raise ValueError("retries must be zero or more")
    retry = Retry(
        ExponentialBackoff(cap=BACKOFF_CAP_S, base=BACKOFF_BASE_S),
        retries,
        supported_errors=(RedisConnectionError, RedisTimeoutError),
    )
    return Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=connect_timeout_s,
        retry=retry,
        max_connections=max_connections,
        # Keys and values we store are text (ids, JSON, ISO times); images live in the media store.
        decode_responses=True,
        client_name="roadhazard",
    )


async def redis_readiness_check(client: Redis, *, timeout_s: float = 1.0) -> CheckResult:
    """PINGs under `timeout_s`; never raises, and its detail names no host, user or password.

    The default stays below the registry's default per-check limit (2 s), so the answer that
    reaches /ready is this check's own, more specific one.
    """
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            await client.ping()
    except TimeoutError:
        return CheckResult(status=CheckStatus.UNHEALTHY, detail=f"no PONG within {timeout_s:g} s")
    except (RedisError, OSError) as exc:
        # Only the exception's class: its message can quote the address of the server.
        return CheckResult(
            status=CheckStatus.UNHEALTHY, detail=f"PING failed: {type(exc).__name__}"
        )
    elapsed_ms = (time.perf_counter() - started) * 1000
    return CheckResult(status=CheckStatus.HEALTHY, detail=f"PONG in {elapsed_ms:.1f} ms")


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, for logs; host, db and socket path stay."""
    try:
        parts = urlsplit(url)
        password = parts.password
        hostname = parts.hostname
        port = parts.port
    except ValueError:
        return "<unparseable redis url>"
    netloc = parts.netloc
    if password is not None:
        host = hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if port is not None:
            host = f"{host}:{port}"
        netloc = f"{parts.username or ''}:***@{host}"
    # redis-py also reads `?password=` from the query string.
    query = urlencode(
        [
            (name, "***" if "password" in name.lower() else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    # Assembled by hand: urlunsplit would turn `unix:///path` into `unix:/path`.
    redacted = f"{parts.scheme}://{netloc}{parts.path}"
    if query:
        redacted += f"?{query}"
    if parts.fragment:
        redacted += f"#{parts.fragment}"
    return redacted
