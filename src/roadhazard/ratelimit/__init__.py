"""Per-client rate limits, counted in Redis so that every worker process shares them."""

from __future__ import annotations

from roadhazard.ratelimit.dependencies import (
    DetectRateLimit,
    FramesRateLimit,
    ReadsRateLimit,
    ReportsRateLimit,
    carry_rate_limit_headers,
    count_request,
    limiter_of,
    rate_limit,
    rate_limit_headers,
)
from roadhazard.ratelimit.identity import caller_identity, client_identity
from roadhazard.ratelimit.limiter import RATE_GROUPS, RateDecision, RateGroup, RateLimiter

__all__ = [
    "RATE_GROUPS",
    "DetectRateLimit",
    "FramesRateLimit",
    "RateDecision",
    "RateGroup",
    "RateLimiter",
    "ReadsRateLimit",
    "ReportsRateLimit",
    "caller_identity",
    "carry_rate_limit_headers",
    "client_identity",
    "count_request",
    "limiter_of",
    "rate_limit",
    "rate_limit_headers",
]
