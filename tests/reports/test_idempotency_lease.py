"""An Idempotency-Key's lease: a request that dies holding it blocks retries only until the
lease lapses; then a retry takes the work over, with the report id the first one claimed."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from roadhazard.errors import Conflict
from roadhazard.reports.models import IdempotencyKey, ManualReport, Report
from roadhazard.reports.service import IDEMPOTENCY_LEASE_MS, ReportsService
from roadhazard.taxonomy import resolve
from tests.reports.conftest import HERE, Clock, assert_consistent

KEY = IdempotencyKey("key:reporter", "crash-then-retry")
DRAFT = ManualReport(hazard=resolve("D40"), location=HERE, description="deep")


class ProcessDied(BaseException):
    """What the request sees when its process is killed: no handler runs, nothing is released."""


async def test_a_crashed_requests_lease_lapses_and_a_retry_takes_over(
    service: ReportsService, clock: Clock, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    filed: list[str] = []
    finish = service.store.finish

    async def crash(key: IdempotencyKey, *, token: str, answer: Report) -> bool:
        # The report is filed; the process dies before its answer is recorded.
        filed.append(answer.id)
        raise ProcessDied

    monkeypatch.setattr(service.store, "finish", crash)
    with pytest.raises(ProcessDied):
        await service.create_manual(DRAFT, idempotency_key=KEY)
    monkeypatch.setattr(service.store, "finish", finish)

    async def create() -> tuple[int, str]:
        """The answer as the router gives it: 201, and here the report's id for its body."""
        return 201, (await service.create_manual(DRAFT, idempotency_key=KEY)).report.id

    lease_s = IDEMPOTENCY_LEASE_MS / 1000
    # While the lease lasts, the dead request still looks in progress.
    clock.advance(seconds=lease_s - 1)
    with pytest.raises(Conflict, match="still in progress"):
        await create()

    clock.advance(seconds=2)
    status, body = await create()
    replay = await create()

    assert (status, body) == (201, filed[0])  # the same report, not a second one
    assert replay == (201, filed[0])
    assert [r.id for r in await assert_consistent(redis)] == filed
