"""The background worker that drains one outbox queue.

Each process runs one worker per queue. It claims due jobs in small batches, runs up to
`concurrency` of them at once, and for each either finishes it (writing its result onto the
report) or puts it back with a backoff. A failure it does not recognise is retried too: a bug
or an outage must cost time, never a report's image or address.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from roadhazard.errors import ServiceUnavailable
from roadhazard.reports.models import ReportChange
from roadhazard.reports.outbox import Job, Outbox
from roadhazard.resilience import CircuitOpen, TransientError
from roadhazard.timeutil import iso, utc_now

log = structlog.get_logger(__name__)


class RetryLater(Exception):
    """Raised by a handler: not now, try again after `delay_s` (or the usual backoff)."""

    def __init__(self, reason: str, *, delay_s: float | None = None) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


class JobHandler(Protocol):
    async def handle(self, job: Job) -> ReportChange | None:
        """Does the job; returns what it changes on its report (None: nothing)."""
        ...


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 4
    batch: int = 16
    poll_s: float = 1.0
    lease_s: float = 120.0
    base_backoff_s: float = 2.0
    max_backoff_s: float = 300.0


def wall_ms() -> int:
    return int(time.time() * 1000)


# A job is staged just before its report is written, so a worker may pick it up first; it
# waits this long for the report before it is taken for the leftover of a request that failed.
ORPHAN_GRACE_MS = 5 * 60 * 1000


def without_report(job: Job, now_ms: int) -> None:
    """What a handler answers for a job whose report is not there: wait for it while it may
    still be written (RetryLater), then drop the job (nothing to write).

    The first try always waits: the job's staging time comes from the reports service's clock,
    which may be behind the worker's (a report filed with an earlier time), so age alone
    could drop a job whose report is being written at that moment."""
    if job.attempts == 0 or now_ms - job.staged_ms < ORPHAN_GRACE_MS:
        raise RetryLater("the report is not written yet", delay_s=2.0)
    log.info("outbox_job_orphaned", queue=job.queue, job_id=job.id)


@dataclass
class QueueWorker:
    outbox: Outbox
    handler: JobHandler
    options: WorkerOptions = field(default_factory=WorkerOptions)
    clock_ms: Callable[[], int] = wall_ms
    rng: random.Random = field(default_factory=random.Random)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def start(self) -> None:
        if self._task is None:
            self._stopping = asyncio.Event()
            self._task = asyncio.create_task(self._loop(), name=f"outbox-{self.outbox.queue}")

    def wake(self) -> None:
        """New work was staged in this process: look now rather than at the next poll."""
        self._wake.set()

    async def drain(self, deadline_s: float) -> None:
        """Stops claiming, and waits up to `deadline_s` for the jobs in hand to finish; the
        ones still running then are cancelled and handed back to the queue, due at once."""
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), deadline_s)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run_once(self) -> int:
        """Claims and runs the jobs due now; returns how many it ran (for tests and drains)."""
        jobs = await self.outbox.claim(
            now_ms=self.clock_ms(),
            lease_ms=int(self.options.lease_s * 1000),
            limit=self.options.batch,
        )
        limit = asyncio.Semaphore(self.options.concurrency)

        async def bounded(job: Job) -> None:
            async with limit:
                await self._run(job)

        await asyncio.gather(*(bounded(job) for job in jobs))
        return len(jobs)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                ran = await self.run_once()
            except Exception:
                # Redis itself is down: keep polling, the jobs are safe where they are.
                log.warning("outbox_claim_failed", queue=self.outbox.queue, exc_info=True)
                ran = 0
            if ran == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.options.poll_s)

    async def _run(self, job: Job) -> None:
        report_id = job.fields.get("report_id", "")
        try:
            result = await self.handler.handle(job)
        except asyncio.CancelledError:
            await self._hand_back(job)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is retried, the unknown ones logged
            await self._retry(job, exc)
            return
        outcome = await self.outbox.finish(job, report_id, result, now_iso=_now_iso())
        log.info(
            "outbox_job_done",
            queue=job.queue,
            job_id=job.id,
            attempts=job.attempts + 1,
            stale=outcome < 0,
        )

    async def _retry(self, job: Job, exc: Exception) -> None:
        delay = self._delay_s(job, exc)
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, RetryLater | TransientError | ServiceUnavailable):
            log.info(
                "outbox_job_retry", queue=job.queue, job_id=job.id, reason=reason, delay_s=delay
            )
        else:
            log.error("outbox_job_failed", queue=job.queue, job_id=job.id, exc_info=exc)
            reason = f"internal error ({type(exc).__name__})"
        try:
            await self.outbox.retry(job, due_ms=self.clock_ms() + int(delay * 1000), error=reason)
        except Exception:
            # The lease still runs out, so the job comes back even if this write is lost.
            log.warning("outbox_retry_not_recorded", queue=job.queue, job_id=job.id, exc_info=True)

    async def _hand_back(self, job: Job) -> None:
        """Shutting down mid-job: make it due now instead of when its lease ends, so the next
        start (or another process) picks it up at once. Best effort: the lease is the backstop."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await asyncio.shield(
                    self.outbox.retry(job, due_ms=self.clock_ms(), error="interrupted by shutdown")
                )

    def _delay_s(self, job: Job, exc: Exception) -> float:
        given: float | None = None
        if isinstance(exc, RetryLater):
            given = exc.delay_s
        elif isinstance(exc, CircuitOpen | TransientError):
            given = exc.retry_after_s
        elif isinstance(exc, ServiceUnavailable):
            given = float(exc.retry_after)
        if given is not None:
            return min(given, self.options.max_backoff_s)
        cap = min(self.options.max_backoff_s, self.options.base_backoff_s * 2.0**job.attempts)
        # Jitter keeps the workers of many processes from retrying in lockstep.
        return cap * self.rng.uniform(0.5, 1.0)


def _now_iso() -> str:
    return iso(utc_now())
