"""The service on a real port, for WebSocket clients: uvicorn in a thread with its own event
loop, started with the options `roadhazard serve` gives it (message size, pings), its lifespan,
and an embedded Redis in a temporary data directory (or CI's, see `tests.harness`)."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from roadhazard.app import create_app
from roadhazard.detection.service import DetectorLoader
from roadhazard.edge.protocol import uvicorn_options
from roadhazard.lifespan import AppState
from roadhazard.settings import Settings
from tests.harness import redis_across_restarts

T = TypeVar("T")
START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 60.0


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own handlers
        pass


@dataclass
class LiveServer:
    http_url: str
    loop: asyncio.AbstractEventLoop
    state: AppState

    def ws_url(self, session_id: str, query: str = "") -> str:
        base = self.http_url.replace("http://", "ws://", 1)
        return f"{base}/v1/sessions/{session_id}/stream{query}"

    async def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs `coroutine` on the server's loop (its objects belong there) and awaits it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), CALL_TIMEOUT_S)


@dataclass
class _Serving:
    settings: Settings
    loader: DetectorLoader | None
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    app: FastAPI | None = None
    server: _Server | None = None
    error: BaseException | None = None

    def run(self, sock: socket.socket) -> None:
        try:
            self.loop.run_until_complete(self._serve(sock))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            self.error = exc

    async def _serve(self, sock: socket.socket) -> None:
        async with redis_across_restarts(self.settings) as settings:
            self.app = create_app(settings, detector_loader=self.loader)
            config = uvicorn.Config(
                self.app,
                lifespan="on",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=2,
                **uvicorn_options(settings),
            )
            self.server = _Server(config)
            await self.server.serve(sockets=[sock])

    def wait_started(self, thread: threading.Thread) -> AppState:
        """The app's state once uvicorn serves (the lifespan has run) and the model is loaded."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.server is None or not self.server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start") from self.error
            time.sleep(0.01)
        assert self.app is not None
        state = AppState.of(self.app.state)
        loaded = asyncio.run_coroutine_threadsafe(state.detection.wait_loaded(), self.loop)
        loaded.result(START_TIMEOUT_S)
        return state


@contextmanager
def live_server(settings: Settings, loader: DetectorLoader | None = None) -> Iterator[LiveServer]:
    # A short path: the embedded Redis listens on a unix socket inside the data dir.
    with tempfile.TemporaryDirectory(prefix="rh-") as data_dir:
        if "data_dir" not in settings.model_fields_set:
            settings = settings.model_copy(update={"data_dir": Path(data_dir)})
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        serving = _Serving(settings, loader)
        thread = threading.Thread(target=serving.run, args=(sock,), daemon=True)
        thread.start()
        try:
            state = serving.wait_started(thread)
            port = sock.getsockname()[1]
            yield LiveServer(f"http://127.0.0.1:{port}", serving.loop, state)
        finally:
            if serving.server is not None:
                serving.server.should_exit = True
            thread.join(timeout=30)
            sock.close()
            if not thread.is_alive():
                serving.loop.close()
    if thread.is_alive():
        raise RuntimeError("the service did not stop")
