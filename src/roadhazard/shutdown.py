"""Graceful shutdown: on SIGTERM, /ready turns 503 first, then the server stops and drains.

Load balancers route by readiness, so the service must tell them to stop sending work while it
still serves what they send meanwhile. uvicorn alone would close its listeners at once, so the
app puts itself in front of uvicorn's SIGTERM handler, in each worker process:

1. SIGTERM: readiness reports "shutting down" (503) at once; requests are still served.
2. After `announce_s`, `before_handover` runs while every connection is still open (WebSocket
   frame streams are told 1001 "going away"; uvicorn would close them with 1012 at once), and
   then uvicorn's own handler: it stops accepting connections and waits up to its graceful
   timeout for the requests in flight.
3. The lifespan then drains the background workers until the deadline set at step 1 (the
   announcement plus `drain_s`); a job they could not finish stays in the Redis outbox, due at
   once, for the next start or another replica.

SIGINT (Ctrl-C at a terminal) and a second SIGTERM skip the announcement (and the handover
step; so does `announce_s` 0). Outside a uvicorn worker (tests, an embedding program) nothing is
installed.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import structlog

log = structlog.get_logger(__name__)

SignalHandler = Callable[[int, FrameType | None], Any]


@dataclass
class ShutdownAnnouncer:
    announce_s: float
    drain_s: float
    on_signal: Callable[[], None]
    # Bounded by `drain_s`; what it leaves undone when that ends is cut off by uvicorn.
    before_handover: Callable[[], Awaitable[object]] | None = None
    _deadline: float | None = field(default=None, init=False)
    _previous: SignalHandler | None = field(default=None, init=False)
    _handover: asyncio.Task[None] | None = field(default=None, init=False)

    def install(self) -> bool:
        """Chains in front of uvicorn's SIGTERM handler; False where there is none to chain."""
        if threading.current_thread() is not threading.main_thread():
            return False
        previous = signal.getsignal(signal.SIGTERM)
        if not _is_uvicorn_handler(previous):
            return False
        assert callable(previous)
        self._previous = previous
        signal.signal(signal.SIGTERM, self._handle)
        return True

    def uninstall(self) -> None:
        if self._previous is not None and signal.getsignal(signal.SIGTERM) == self._handle:
            signal.signal(signal.SIGTERM, self._previous)

    def seconds_left(self) -> float:
        """What remains for draining; the whole `drain_s` when no signal set a deadline."""
        if self._deadline is None:
            return self.drain_s
        return max(0.0, self._deadline - time.monotonic())

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        previous = self._previous
        assert previous is not None
        if self._deadline is not None or self.announce_s <= 0:
            previous(sig, frame)
            return
        self._deadline = time.monotonic() + self.announce_s + self.drain_s
        self.on_signal()
        log.info("shutdown_announced", announce_s=self.announce_s, drain_s=self.drain_s)
        # A Python signal handler runs on the main thread between bytecodes, where the loop
        # runs: scheduling on it from here is safe, and uvicorn's tick wakes it within 0.1 s.
        asyncio.get_running_loop().call_later(self.announce_s, self._hand_over, sig, frame)

    def _hand_over(self, sig: int, frame: FrameType | None) -> None:
        previous = self._previous
        assert previous is not None
        if self.before_handover is None:
            previous(sig, frame)
            return
        # Kept, so the task is not collected while it runs.
        self._handover = asyncio.get_running_loop().create_task(
            self._prepare_then(previous, sig, frame), name="shutdown-handover"
        )

    async def _prepare_then(
        self, previous: SignalHandler, sig: int, frame: FrameType | None
    ) -> None:
        assert self.before_handover is not None
        try:
            async with asyncio.timeout(self.drain_s):
                await self.before_handover()
        except TimeoutError:
            log.warning("shutdown_handover_timed_out", drain_s=self.drain_s)
        except Exception:  # the server must stop whatever failed before it
            log.exception("shutdown_handover_failed")
        finally:
            previous(sig, frame)


def _is_uvicorn_handler(handler: object) -> bool:
    owner = getattr(handler, "__self__", None)
    return type(owner).__module__.startswith("uvicorn.") and callable(handler)
