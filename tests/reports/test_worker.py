"""The outbox and its worker on a real Redis: leases, versions, backoff, draining."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from roadhazard.reports import keys
from roadhazard.reports.addresses import AddressJobs
from roadhazard.reports.models import ReportChange, ReportChanges
from roadhazard.reports.outbox import Job, Outbox
from roadhazard.reports.service import ReportsService, new_report_id
from roadhazard.reports.store import ReportStore
from roadhazard.reports.worker import ORPHAN_GRACE_MS, QueueWorker, RetryLater, WorkerOptions
from roadhazard.resilience import TransientError
from tests.reports.conftest import GazetteerGeocoder, sighting

QUEUE = "test"


@dataclass
class WallClock:
    now_ms: int = 1_000_000

    def __call__(self) -> int:
        return self.now_ms


@dataclass
class Handler:
    """Does what the test tells it for each job, and records what it was given."""

    outcomes: list[Exception | ReportChange | None] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, job: Job) -> ReportChange | None:
        self.seen.append((job.id, job.fields.get("payload", "")))
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def worker(redis: Redis, handler: Handler, clock: WallClock, **options: float) -> QueueWorker:
    return QueueWorker(
        Outbox(redis, QUEUE),
        handler,
        WorkerOptions(**options),  # type: ignore[arg-type]
        clock_ms=clock,
        rng=random.Random(7),
    )


async def due_at(redis: Redis, job_id: str) -> float | None:
    score: float | None = await redis.zscore(keys.report_queue(QUEUE), job_id)
    return score


async def test_a_done_job_writes_its_result_onto_the_report_and_leaves_the_queue(
    redis: Redis, service: ReportsService
) -> None:
    made = sighting()
    await service.create_from_sighting(made)
    clock = WallClock()
    found = ReportChanges(frozenset({"description"}), description="found by the worker")
    handler = Handler(outcomes=[found])
    outbox = Outbox(redis, QUEUE)
    await outbox.stage("job-1", {"report_id": made.report_id}, now_ms=clock.now_ms)

    assert await worker(redis, handler, clock).run_once() == 1

    assert (await service.get(made.report_id)).description == "found by the worker"
    assert (await outbox.backlog()).size == 0
    assert not await redis.exists(keys.report_job(QUEUE, "job-1"))


async def test_failures_back_off_exponentially_and_honour_the_servers_wait(redis: Redis) -> None:
    clock = WallClock()
    handler = Handler(
        outcomes=[
            TransientError("down"),
            TransientError("down"),
            TransientError("busy", retry_after_s=7),
            RetryLater("not yet", delay_s=0.5),
            ValueError("a bug"),
        ]
    )
    outbox = Outbox(redis, QUEUE)
    await outbox.stage("j", {"report_id": "r"}, now_ms=clock.now_ms)
    running = worker(redis, handler, clock, base_backoff_s=2.0, max_backoff_s=60.0)

    delays = []
    for _ in range(5):
        assert await running.run_once() == 1
        due = await due_at(redis, "j")
        assert due is not None
        delays.append((due - clock.now_ms) / 1000)
        clock.now_ms = int(due)
    # Jitter within [cap/2, cap], the cap doubling per attempt (2 s, 4 s…), unless the failure
    # said how long to wait; the fifth try (four failures before it) is capped at 32 s.
    assert 1.0 <= delays[0] <= 2.0
    assert 2.0 <= delays[1] <= 4.0
    assert delays[2:4] == [7.0, 0.5]
    assert 16.0 <= delays[4] <= 32.0
    job = await outbox.load("j")
    assert job is not None
    assert job.attempts == 5
    assert job.fields["last_error"] == "internal error (ValueError)"


async def test_a_job_staged_again_meanwhile_is_not_finished_by_the_stale_run(
    redis: Redis,
) -> None:
    clock = WallClock()
    handler = Handler(gate=asyncio.Event())
    outbox = Outbox(redis, QUEUE)
    await outbox.stage("j", {"report_id": "r", "payload": "old"}, now_ms=clock.now_ms)
    running = asyncio.create_task(worker(redis, handler, clock).run_once())
    await handler.started.wait()
    # A better frame arrives while the old one is being uploaded.
    await outbox.stage("j", {"report_id": "r", "payload": "new"}, now_ms=clock.now_ms)
    assert handler.gate is not None
    handler.gate.set()
    await running

    assert await worker(redis, handler, clock).run_once() == 1
    assert handler.seen == [("j", "old"), ("j", "new")]
    assert (await outbox.backlog()).size == 0


async def test_a_crashed_workers_job_comes_back_when_its_lease_ends(redis: Redis) -> None:
    clock = WallClock()
    outbox = Outbox(redis, QUEUE)
    await outbox.stage("j", {"report_id": "r"}, now_ms=clock.now_ms)
    # A worker claims it and dies without a word.
    assert len(await outbox.claim(now_ms=clock.now_ms, lease_ms=60_000, limit=10)) == 1

    handler = Handler()
    survivor = worker(redis, handler, clock)
    assert await survivor.run_once() == 0
    clock.now_ms += 60_001
    assert await survivor.run_once() == 1
    assert (await outbox.backlog()).size == 0


async def test_a_job_whose_report_is_missing_waits_out_the_grace_then_is_dropped(
    redis: Redis, geocoder: GazetteerGeocoder
) -> None:
    # A job is staged just before its report is written: a worker that finds no report waits
    # for it through the grace period, and only then takes the job for a failed request's.
    clock = WallClock()
    outbox = Outbox(redis, QUEUE)
    staged_ms = clock.now_ms
    await outbox.stage("j", {"report_id": new_report_id()}, now_ms=staged_ms)
    jobs = AddressJobs(geocoder, ReportStore(redis), clock_ms=clock)
    survivor = QueueWorker(outbox, jobs, WorkerOptions(), clock_ms=clock, rng=random.Random(7))

    assert await survivor.run_once() == 1
    assert (await outbox.backlog()).size == 1  # kept: the report may still be written
    clock.now_ms = staged_ms + ORPHAN_GRACE_MS - 1
    assert await survivor.run_once() == 1
    assert (await outbox.backlog()).size == 1

    clock.now_ms += 2_000  # its retry, 2 s later: past the grace
    assert await survivor.run_once() == 1
    assert (await outbox.backlog()).size == 0
    assert await outbox.load("j") is None


async def test_a_job_staged_at_an_earlier_time_is_not_dropped_before_its_report_lands(
    redis: Redis, geocoder: GazetteerGeocoder
) -> None:
    # A report filed with an earlier time (the service's clock behind the worker's) stages its
    # job at that time; a worker that claims it before the report is written must still wait.
    clock = WallClock()
    outbox = Outbox(redis, QUEUE)
    staged_ms = clock.now_ms - 3 * 24 * 3600 * 1000
    await outbox.stage("j", {"report_id": new_report_id()}, now_ms=staged_ms)
    jobs = AddressJobs(geocoder, ReportStore(redis), clock_ms=clock)
    worker = QueueWorker(outbox, jobs, WorkerOptions(), clock_ms=clock, rng=random.Random(7))

    assert await worker.run_once() == 1
    assert (await outbox.backlog()).size == 1  # retried, although staged days "ago"
    clock.now_ms += 2_000
    assert await worker.run_once() == 1
    assert (await outbox.backlog()).size == 0  # the second try finds no report: dropped


async def test_draining_waits_for_jobs_in_hand_and_hands_back_what_overruns(
    redis: Redis,
) -> None:
    clock = WallClock()
    outbox = Outbox(redis, QUEUE)
    await outbox.stage("quick", {"report_id": "r"}, now_ms=clock.now_ms)
    quick_handler = Handler()
    quick = worker(redis, quick_handler, clock, poll_s=0.01)
    quick.start()
    await asyncio.wait_for(quick_handler.started.wait(), 20)  # the job is in hand
    await quick.drain(deadline_s=1.0)
    assert (await outbox.backlog()).size == 0

    await outbox.stage("stuck", {"report_id": "r"}, now_ms=clock.now_ms)
    stuck_handler = Handler(gate=asyncio.Event())
    stuck = worker(redis, stuck_handler, clock, poll_s=0.01, lease_s=600)
    stuck.start()
    await stuck_handler.started.wait()
    await stuck.drain(deadline_s=0.2)
    # Not lost, and not left leased for ten minutes: due again at once.
    assert await due_at(redis, "stuck") == clock.now_ms
    job = await outbox.load("stuck")
    assert job is not None
    assert job.fields["last_error"] == "interrupted by shutdown"


@pytest.mark.parametrize("queue", ["images", "geocode"])
def test_queue_keys_share_the_reports_hash_tag(queue: str) -> None:
    assert keys.report_queue(queue).startswith(keys.REPORTS_PREFIX)
    assert keys.report_job(queue, "01ABC.original").startswith(keys.REPORTS_PREFIX)
