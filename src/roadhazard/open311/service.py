"""GET requests: GeoReport v2's query (ids, service codes, statuses, a date window, a limit)
answered through the reports service.

The specification's defaults: service_request_id overrides every other argument; without
dates, the window is the last 90 days; start_date and end_date may not span more than 90 days;
at most 1000 requests. The list is newest first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from roadhazard.errors import BadRequest
from roadhazard.reports.listing import ReportQuery
from roadhazard.reports.models import Report
from roadhazard.reports.service import ReportsService
from roadhazard.reports.states import ReportStatus

WINDOW = timedelta(days=90)
LIMIT_MAX = 1000
# Each call of the list examines at most its scan budget (2000 reports); a request stops after
# this many, so a rare filter over a full window costs a bounded number of round trips.
MAX_LIST_CALLS = 10
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RequestsQuery:
    """A GET requests query, as parsed from its arguments. Empty `codes` or `statuses`: any."""

    ids: tuple[str, ...] | None = None
    codes: tuple[str, ...] = ()
    statuses: frozenset[ReportStatus] = frozenset()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = LIMIT_MAX


def comma_list(raw: str | None) -> tuple[str, ...]:
    """ "a, b,,a" -> ("a", "b"): each value once, in order, blanks dropped."""
    if raw is None:
        return ()
    return tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


def window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The requested_datetime range to search, both ends included."""
    if start is None and end is None:
        return _shifted(now, -WINDOW), now
    if start is None:
        assert end is not None
        return _shifted(end, -WINDOW), end
    if end is None:
        return start, _shifted(start, WINDOW)
    if end < start:
        raise BadRequest("end_date is before start_date.")
    if end - start > WINDOW:
        raise BadRequest("start_date and end_date may not span more than 90 days.")
    return start, end


def _shifted(moment: datetime, delta: timedelta) -> datetime:
    try:
        return moment + delta
    except OverflowError:  # past year 9999 or before year 1
        return _LATEST if delta > timedelta(0) else _EARLIEST


async def find_requests(
    reports: ReportsService, query: RequestsQuery, *, now: datetime
) -> list[Report]:
    if query.ids is not None:
        return await reports.get_many(query.ids[: query.limit])
    start, end = window(query.start, query.end, now)
    # The list's upper bound is exclusive; the specification's end_date is included.
    until = _shifted(end, timedelta(milliseconds=1))
    status = next(iter(query.statuses)) if len(query.statuses) == 1 else None
    found = await asyncio.gather(
        *(
            _newest(reports, query.limit, status=status, code=code, since=start, until=until)
            for code in query.codes or (None,)
        )
    )
    if len(found) == 1:
        return found[0]
    merged = sorted(
        (report for reports_of_code in found for report in reports_of_code),
        key=lambda report: (report.created_ms, report.id),
        reverse=True,
    )
    return merged[: query.limit]


async def _newest(
    reports: ReportsService,
    limit: int,
    *,
    status: ReportStatus | None,
    code: str | None,
    since: datetime,
    until: datetime,
) -> list[Report]:
    found: list[Report] = []
    cursor: str | None = None
    for _ in range(MAX_LIST_CALLS):
        page = await reports.list(
            ReportQuery(
                status=status,
                code=code,
                since=since,
                until=until,
                order="newest",
                cursor=cursor,
                limit=limit - len(found),
            )
        )
        found += page.reports
        cursor = page.next_cursor
        if cursor is None or len(found) >= limit:
            break
    return found
