"""GET /v1/reports/events: the live feed of report events, as Server-Sent Events.

Every worker process serves it from the one Redis Stream the report scripts write, so a client
connected to any process hears of every change (roadhazard.realtime.feed for the process's
reader, roadhazard.realtime.sse for the wire format and resuming).

Included before the reports' routes by the app: `/v1/reports/{report_id}` would take "events"
for a report id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from starlette.requests import HTTPConnection

from roadhazard.access.dependencies import ReaderDep
from roadhazard.ratelimit import rate_limit
from roadhazard.realtime.feed import EventFilter, ReportFeed
from roadhazard.realtime.sse import EVENT_STREAM_MEDIA_TYPE, EventStreamResponse
from roadhazard.reports.events import EVENT_ID_PATTERN
from roadhazard.reports.filters import BboxText, ServiceCode, parse_bbox
from roadhazard.reports.service import EventId
from roadhazard.reports.states import ReportState
from roadhazard.schemas import problem_responses
from roadhazard.settings import SettingsDep

# One read from the limit's point of view, however long the feed stays open.
router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    dependencies=[Depends(rate_limit("reads"))],
    responses=problem_responses(401, 422, 429, 503),
)


async def get_report_feed(connection: HTTPConnection) -> ReportFeed:
    feed: ReportFeed = connection.app.state.report_feed
    return feed


ReportFeedDep = Annotated[ReportFeed, Depends(get_report_feed)]

_EVENTS_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "An event stream: `report.created`, `report.updated` (with `changes`: state, "
            "best_frame, details, position, address, image) and `report.duplicate`, each with "
            "`id:` the event's id and `data:` one line of JSON (type, report_id, service_code, "
            "state, lat, lon, at); `reset` when `Last-Event-ID` is too old to resume from; a "
            "comment line as a heartbeat."
        ),
        "content": {EVENT_STREAM_MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/events", status_code=200, response_class=EventStreamResponse, responses=_EVENTS_RESPONSE
)
async def report_events(
    _: ReaderDep,
    feed: ReportFeedDep,
    settings: SettingsDep,
    bbox: BboxText = None,
    service_code: ServiceCode = None,
    state: ReportState | None = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            pattern=EVENT_ID_PATTERN,
            description="Resume after this event (EventSource sends it when it reconnects).",
        ),
    ] = None,
) -> EventStreamResponse:
    """Report events as they happen, in every worker process; filters as in the list (an
    event without a position never matches `bbox`; `state` matches the state before or after
    the change). Open until the client leaves; on shutdown it ends, and EventSource
    reconnects with `Last-Event-ID`."""
    event_filter = EventFilter(
        bbox=parse_bbox(bbox) if bbox is not None else None,
        code=service_code,
        state=state.value if state is not None else None,
    )
    resume_after = EventId.parse(last_event_id) if last_event_id is not None else None
    listener = feed.listen(event_filter)
    return EventStreamResponse(
        feed, listener, resume_after=resume_after, heartbeat_s=settings.events_heartbeat_s
    )
