"""FastAPI dependencies that count a request against its client's limit, or answer 429.

Headers follow the IETF draft "RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-
headers, -08 onwards), one policy per group:

    RateLimit-Policy: "detect";q=120;w=60    quota q requests per w seconds
    RateLimit: "detect";r=37;t=12            r requests remain; t seconds until the window
                                             closes (admitted) or until the next request fits

They are set through FastAPI's Response parameter, which FastAPI merges into whatever the
endpoint returns unless the endpoint returns a Response itself; a 429 always carries them,
with Retry-After.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.requests import HTTPConnection

from roadhazard.errors import TooManyRequests
from roadhazard.ratelimit.identity import client_identity
from roadhazard.ratelimit.limiter import RateDecision, RateGroup, RateLimiter


def rate_limit_headers(group: RateGroup, decision: RateDecision, window_s: int) -> dict[str, str]:
    return {
        "RateLimit-Policy": f'"{group}";q={decision.limit};w={window_s}',
        "RateLimit": f'"{group}";r={decision.remaining};t={decision.wait_s}',
    }


def carry_rate_limit_headers(target: Response, dependencies_response: Response) -> Response:
    """Copies the RateLimit headers the dependency set onto a Response the endpoint built
    itself (FastAPI merges them only into responses it builds)."""
    for name, value in dependencies_response.headers.items():
        if name.lower() in ("ratelimit", "ratelimit-policy"):
            target.headers[name] = value
    return target


def limiter_of(request: HTTPConnection) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        # A wiring mistake, not a reason to serve without limits.
        raise RuntimeError("app.state.rate_limiter is not set; the lifespan builds it")
    return limiter


async def count_request(limiter: RateLimiter, group: RateGroup, identity: str) -> dict[str, str]:
    """Counts one request of `identity` in `group`: its RateLimit headers when admitted (none
    when unchecked), TooManyRequests when refused. Also for what is not an HTTP request, such
    as a frame of a WebSocket stream."""
    decision = await limiter.check(group, identity)
    if decision is None:
        return {}
    headers = rate_limit_headers(group, decision, limiter.window_s)
    if not decision.admitted:
        raise TooManyRequests(
            f"Too many {group} requests; retry in {decision.wait_s} s.",
            retry_after=decision.wait_s,
            headers=headers,
        )
    return headers


# Cached, so that every use of a group's dependency is the same callable, and FastAPI counts a
# request once even when a route and its router both name the group.
@cache
def rate_limit(group: RateGroup) -> Callable[[Request, Response], Awaitable[None]]:
    """A dependency counting the request in `group`; async, so it runs on the event loop."""

    async def limit(request: Request, response: Response) -> None:
        headers = await count_request(limiter_of(request), group, client_identity(request))
        response.headers.update(headers)

    limit.__name__ = f"rate_limit_{group}"
    return limit


DetectRateLimit = Annotated[None, Depends(rate_limit("detect"))]
FramesRateLimit = Annotated[None, Depends(rate_limit("frames"))]
ReportsRateLimit = Annotated[None, Depends(rate_limit("reports"))]
ReadsRateLimit = Annotated[None, Depends(rate_limit("reads"))]
