"""A bounded pool for CPU-bound detection work, so the event loop never runs it.

At most `concurrency` jobs run at once and at most `queue_size` more wait. Beyond that the
caller is told to retry later (503 with Retry-After) instead of piling up work and memory.
A slot is released only when its job really finishes, even if the caller gave up on it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import TypeVar

from roadhazard.errors import ServiceUnavailable
from roadhazard.observability import metrics

T = TypeVar("T")


class InferencePool:
    def __init__(
        self, *, concurrency: int, queue_size: int, timeout_s: float, retry_after_s: int
    ) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="inference"
        )
        self.concurrency = concurrency
        self.capacity = concurrency + queue_size
        self._timeout_s = timeout_s
        self._retry_after_s = retry_after_s
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Jobs running or waiting."""
        return self._admitted

    @property
    def queued(self) -> int:
        return max(0, self._admitted - self.concurrency)

    async def run(self, job: Callable[[], T]) -> T:
        if self._admitted >= self.capacity:
            raise ServiceUnavailable(
                "The detection queue is full; retry shortly.", retry_after=self._retry_after_s
            )
        loop = asyncio.get_running_loop()
        self._count(+1)
        try:
            work = self._executor.submit(job)
        except RuntimeError:
            self._count(-1)
            raise ServiceUnavailable(
                "The service is shutting down.", retry_after=self._retry_after_s
            ) from None
        work.add_done_callback(lambda _: self._release_from_worker(loop))
        try:
            return await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(work)), self._timeout_s
            )
        except TimeoutError:
            raise ServiceUnavailable(
                f"Detection did not finish within {self._timeout_s:g} s; retry later.",
                retry_after=self._retry_after_s,
            ) from None
        finally:
            # Frees the slot now if the job never started; a running job frees it when done.
            work.cancel()

    def _release_from_worker(self, loop: asyncio.AbstractEventLoop) -> None:
        # The counter belongs to the loop thread; a closed loop has nobody left to count for.
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        self._count(-1)

    def _count(self, change: int) -> None:
        self._admitted += change
        metrics.set_inference_pool(queued=self.queued, in_flight=self._admitted - self.queued)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
