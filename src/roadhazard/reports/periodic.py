"""A task that runs a coroutine every `interval_s` until it is closed (the retention purge)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)


@dataclass
class Periodic:
    name: str
    run: Callable[[], Awaitable[object]]
    interval_s: float
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def start(self) -> None:
        if self._task is None:
            self._stopping = asyncio.Event()
            self._task = asyncio.create_task(self._loop(self._stopping), name=self.name)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # The event, not only the cancel: a cancel landing inside a Redis command can come
            # out of the client as a timeout or connection error, which the loop survives.
            self._stopping.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.run()
            except Exception:
                # A Redis outage must not end the loop; the next round retries.
                log.exception("periodic_task_failed", task=self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval_s)
