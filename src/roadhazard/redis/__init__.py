"""Redis for Roadhazard: the client and its lifecycle, the embedded server, and key builders."""

from __future__ import annotations

from roadhazard.redis.client import create_client, redact_url, redis_readiness_check
from roadhazard.redis.embedded import EmbeddedRedis, EmbeddedRedisError, find_redis_server
from roadhazard.redis.lifecycle import open_redis

__all__ = [
    "EmbeddedRedis",
    "EmbeddedRedisError",
    "create_client",
    "find_redis_server",
    "open_redis",
    "redact_url",
    "redis_readiness_check",
]
