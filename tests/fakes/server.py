"""Serving an ASGI app over real TCP from a background thread, and injecting faults into it.

A fake runs in its own thread with its own event loop, so a fake that hangs or sleeps never
touches the loop of the service under test: the service sees a real, slow, remote peer.
"""

from __future__ import annotations

import asyncio
import enum
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp


def unused_port() -> int:
    """A port nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own handlers
        pass


@contextmanager
def serving(app: ASGIApp, port: int = 0) -> Iterator[str]:
    """Serves `app` on 127.0.0.1 (`port`, or any free one); yields its base URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1, access_log=False
    )
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started:
                break
            threading.Event().wait(0.005)
        else:
            raise RuntimeError("the fake server did not start")
        yield f"http://127.0.0.1:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class Fault(enum.StrEnum):
    NONE = "none"
    ERROR_500 = "error_500"
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After
    SLOW = "slow"  # answers, but after `delay_s`
    HANG = "hang"  # never answers while the fault lasts


@dataclass
class FaultInjector:
    """What the next requests suffer. `times=None` keeps the fault until it is cleared."""

    fault: Fault = Fault.NONE
    times: int | None = None
    retry_after_s: int = 1
    delay_s: float = 5.0
    status_429: int = 429
    seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cleared: threading.Event = field(default_factory=threading.Event, repr=False)

    def set(self, fault: Fault, *, times: int | None = None, **options: float) -> None:
        with self._lock:
            self.fault, self.times = fault, times
            for name, value in options.items():
                setattr(self, name, value)
            # Requests hanging on the fault being replaced end with it, rather than wait on an
            # event that clear() would no longer reach.
            self._cleared.set()
            self._cleared = threading.Event()

    def clear(self) -> None:
        with self._lock:
            self.fault, self.times = Fault.NONE, None
            self._cleared.set()

    def _take(self) -> tuple[Fault, threading.Event]:
        with self._lock:
            self.seen += 1
            fault = self.fault
            if fault is not Fault.NONE and self.times is not None:
                self.times -= 1
                if self.times <= 0:
                    self.fault, self.times = Fault.NONE, None
            return fault, self._cleared

    async def apply(self) -> Response | None:
        """A response that replaces the real one, or None to answer normally."""
        fault, cleared = self._take()
        if fault is Fault.ERROR_500:
            return JSONResponse({"error": {"message": "Internal server error"}}, status_code=500)
        if fault is Fault.RATE_LIMITED:
            return JSONResponse(
                {"error": {"message": "Rate limit exceeded"}},
                status_code=self.status_429,
                headers={"Retry-After": str(self.retry_after_s)},
            )
        if fault is Fault.SLOW:
            await asyncio.sleep(self.delay_s)
        if fault is Fault.HANG:
            # Until the test clears the fault (or the server stops): a peer that never answers.
            # A threading.Event, set from the test's thread, polled: the fake's loop cannot be
            # woken from outside it.
            while not cleared.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        return None
