"""GET /metrics: the Prometheus exposition of this process, or of all workers."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from roadhazard.observability.metrics import render_metrics

router = APIRouter(tags=["observability"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    # Multiprocess rendering reads every worker's files, and a large registry takes a while to
    # format: neither belongs on the event loop.
    body, content_type = await asyncio.to_thread(render_metrics)
    return Response(content=body, media_type=content_type)
