"""Durable queues of background work on reports, kept in Redis beside the reports.

Work that needs a slow or fallible service (uploading an image to Cloudinary, geocoding) is
staged here first, in the same request that files the report, and done afterwards by a worker
(roadhazard.reports.worker). The queue survives a restart of the service, is shared by every
worker process, and a job is only removed by the script that also writes its result onto the
report, so a crash at any point leaves the job to be done again, never lost.

A claimed job is leased, not removed: if the worker holding it dies, the lease runs out and
another worker takes it. Doing a job twice is harmless because each job is idempotent (the
image's public id is fixed, an address is simply written again).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from roadhazard.checks import CheckResult, CheckStatus
from roadhazard.reports import codec, keys, scripts
from roadhazard.reports.events import EVENTS_MAX_LEN
from roadhazard.reports.models import ReportChange


@dataclass(frozen=True)
class Job:
    queue: str
    id: str
    version: str
    attempts: int
    staged_ms: int
    fields: Mapping[str, str]


@dataclass(frozen=True)
class Backlog:
    size: int
    oldest_staged_ms: int | None
    last_error: str | None


class Outbox:
    """One named queue: stage, claim, finish or retry jobs."""

    def __init__(self, redis: Redis, queue: str, *, events_max_len: int = EVENTS_MAX_LEN) -> None:
        self.redis = redis
        self.queue = queue
        # Finishing a job that changes its report adds to the event stream, kept this long.
        self.events_max_len = events_max_len
        self._queue_key = keys.report_queue(queue)
        self._stage = scripts.JOB_STAGE.registered_on(redis)
        self._claim = scripts.JOB_CLAIM.registered_on(redis)
        self._done = scripts.JOB_DONE.registered_on(redis)
        self._retry = scripts.JOB_RETRY.registered_on(redis)

    async def stage(self, job_id: str, fields: Mapping[str, str], *, now_ms: int) -> int:
        """Adds the job, or replaces a waiting one with the same id; returns its version."""
        pairs = [item for pair in fields.items() for item in pair]
        version = await self._stage(
            keys=[keys.report_job(self.queue, job_id), self._queue_key],
            args=[job_id, now_ms, now_ms, *pairs],
        )
        return int(version)

    async def claim(self, *, now_ms: int, lease_ms: int, limit: int) -> list[Job]:
        ids = cast(
            list[str],
            await self._claim(keys=[self._queue_key], args=[now_ms, now_ms + lease_ms, limit]),
        )
        if not ids:
            return []
        # One round trip for the whole batch's payloads.
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(keys.report_job(self.queue, job_id))
            raws: list[dict[str, str]] = await pipe.execute()
        jobs = [await self._job(job_id, raw) for job_id, raw in zip(ids, raws, strict=True)]
        return [job for job in jobs if job is not None]

    async def load(self, job_id: str) -> Job | None:
        raw = cast(dict[str, str], await self.redis.hgetall(keys.report_job(self.queue, job_id)))
        return await self._job(job_id, raw)

    async def _job(self, job_id: str, raw: dict[str, str]) -> Job | None:
        if not raw:
            # Staged and finished between the claim and this read: nothing left to do.
            await self.redis.zrem(self._queue_key, job_id)
            return None
        return Job(
            queue=self.queue,
            id=job_id,
            version=raw["version"],
            attempts=int(raw.get("attempts", "0")),
            staged_ms=int(raw.get("staged_ms", "0")),
            fields=raw,
        )

    async def finish(
        self, job: Job, report_id: str, change: ReportChange | None, *, now_iso: str
    ) -> int:
        """Removes the job and applies `change` (if any) to its report, in one step.

        Returns 1 (done), 0 (done, but the report is gone) or -1 (the job was staged again
        meanwhile: this result is stale and nothing changed).
        """
        fields = codec.change_fields(change) if change is not None else {}
        pairs = [item for pair in fields.items() for item in pair]
        result = await self._done(
            keys=[
                keys.report_job(self.queue, job.id),
                self._queue_key,
                keys.report(report_id),
            ],
            args=[keys.REPORTS_PREFIX, job.id, job.version, now_iso, self.events_max_len, *pairs],
        )
        return int(result)

    async def retry(self, job: Job, *, due_ms: int, error: str) -> None:
        await self._retry(
            keys=[keys.report_job(self.queue, job.id), self._queue_key],
            args=[job.id, job.version, due_ms, error[:500]],
        )

    async def remove(self, job_id: str) -> None:
        """Drops a waiting job (its report is gone). A worker already running it finishes
        with a stale version or a missing report, and changes nothing."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.report_job(self.queue, job_id))
            pipe.zrem(self._queue_key, job_id)
            await pipe.execute()

    async def fields(self, job_id: str, *names: str) -> list[str | None]:
        """Some fields of a waiting job (e.g. an image's bytes while it is not yet stored)."""
        values = await self.redis.hmget(keys.report_job(self.queue, job_id), list(names))
        return cast(list[str | None], values)

    async def backlog(self) -> Backlog:
        size = int(await self.redis.zcard(self._queue_key))
        if size == 0:
            return Backlog(0, None, None)
        # The job due soonest has usually waited longest; reading one job keeps this cheap.
        first = cast(list[str], await self.redis.zrange(self._queue_key, 0, 0))
        if not first:
            return Backlog(0, None, None)
        staged, error = await self.fields(first[0], "staged_ms", "last_error")
        return Backlog(size, int(staged) if staged else None, error or None)


async def readiness_with_backlog(
    check: Callable[[], Awaitable[CheckResult]],
    outbox: Outbox,
    *,
    work: str,
    stale_after_s: float,
    clock_ms: Callable[[], int],
) -> CheckResult:
    """A dependency's own check, made `degraded` when its work has been waiting too long.

    A store that answers its ping but has not taken an upload for minutes is not healthy,
    whatever the ping says; the detail tells an operator how much is waiting and why. With
    Redis down the backlog is unknown: `degraded`, and the detail says so (never raises).
    """
    result = await check()
    try:
        backlog = await outbox.backlog()
    except (RedisError, OSError) as exc:
        # Only the exception's class: its message can quote the server's address.
        status = CheckStatus.DEGRADED if result.status is CheckStatus.HEALTHY else result.status
        detail = f"{result.detail}; queue unreadable (Redis: {type(exc).__name__})"
        return CheckResult(status=status, detail=detail)
    if not backlog.size or backlog.oldest_staged_ms is None:
        return result
    waited_s = max(0.0, (clock_ms() - backlog.oldest_staged_ms) / 1000)
    if waited_s < stale_after_s:
        return result
    detail = f"{result.detail}; {backlog.size} {work} waiting, the oldest for {waited_s:.0f} s"
    if backlog.last_error:
        detail += f" (last error: {backlog.last_error})"
    status = CheckStatus.DEGRADED if result.status is CheckStatus.HEALTHY else result.status
    return CheckResult(status=status, detail=detail)
