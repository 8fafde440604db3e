"""An Idempotency-Key on filing a manual report: a retry gets the first request's answer.

The first request claims the key with a lease and the id its report will get; a retry with the
same payload gets the stored answer (the report as it was filed), or takes the work over with
that same id once the lease has lapsed (the first process crashed), so a retry never files a
second report.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from roadhazard.errors import Conflict, RoadhazardError, Unprocessable
from roadhazard.ids import new_ulid
from roadhazard.reports.models import IdempotencyKey, ManualReport, RenderedAnswer, Report
from roadhazard.reports.store import ReportStore

log = structlog.get_logger(__name__)

# How long a request may hold an Idempotency-Key before a retry may take the work over.
IDEMPOTENCY_LEASE_MS = 30_000


@dataclass(frozen=True)
class Filed:
    """A manual report as filed; `replayed` when this answers a retry of an earlier request."""

    report: Report
    replayed: bool = False


async def file_once(
    store: ReportStore,
    key: IdempotencyKey,
    draft: ManualReport,
    *,
    now_ms: int,
    file: Callable[[str], Awaitable[Report]],
) -> Filed | RenderedAnswer:
    """Files `draft` through `file` (given the report's id) once for `key`.

    A replay of a record the previous release wrote is its rendered answer, as it was sent.
    """
    token = secrets.token_hex(16)
    claim = await store.claim(
        key,
        fingerprint=draft.fingerprint(),
        token=token,
        report_id=new_ulid(),
        now_ms=now_ms,
        lease_ms=IDEMPOTENCY_LEASE_MS,
    )
    if claim.outcome == "mismatch":
        raise Unprocessable("This Idempotency-Key was already used with another request.")
    if claim.outcome == "busy":
        raise Conflict("A request with this Idempotency-Key is still in progress.")
    if claim.outcome == "unreadable":
        raise Conflict(
            "This Idempotency-Key's earlier answer can no longer be replayed; "
            "send a new request with another key."
        )
    if claim.outcome == "done":
        assert claim.answer is not None
        if isinstance(claim.answer, RenderedAnswer):
            return claim.answer
        return Filed(claim.answer, replayed=True)
    assert claim.report_id is not None
    try:
        report = await file(claim.report_id)
    except RoadhazardError:
        # The client's own mistake (an unreadable image): its answer says so, no log needed.
        await store.release(key, token=token)
        raise
    except Exception:
        log.warning("idempotent_create_failed", exc_info=True)
        await store.release(key, token=token)
        raise
    await store.finish(key, token=token, answer=report)
    return Filed(report)
