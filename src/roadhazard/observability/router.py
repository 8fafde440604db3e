"""GET /metrics: the Prometheus exposition of this process, or of all workers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response

from roadhazard.observability.metrics import render_metrics

router = APIRouter(tags=["observability"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    # Gauges that only change when something is evaluated (the dependency checks) are brought
    # up to date first, so they are fresh even where nobody polls /ready (plain Docker).
    refresh: Callable[[], Awaitable[object]] | None = getattr(
        request.app.state, "before_metrics", None
    )
    if refresh is not None:
        await refresh()
    # Multiprocess rendering reads every worker's files, and a large registry takes a while to
    # format: neither belongs on the event loop.
    body, content_type = await asyncio.to_thread(render_metrics)
    return Response(content=body, media_type=content_type)
