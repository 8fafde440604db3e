"""Phase (b): POST /v1/detect at saturation, with the /health probe running alongside."""

# httpx is imported inside the functions that need it, to keep this module light.
from __future__ import annotations

import asyncio
import mimetypes
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .inputs import Image, service_default
from .measure import (
    HOST,
    PROBE_TIMEOUT_S,
    REQUEST_TIMEOUT_S,
    TICK_S,
    BenchError,
    CpuMeter,
    CpuUse,
    Window,
    ms,
    percentile,
    progress,
)
from .probe import health_probe
from .server import Server, running_server


@dataclass(frozen=True)
class HttpResult:
    concurrency: int
    threads: int
    defaults: bool
    clients: int
    images: int
    seconds: float
    images_per_s: float
    detect_p50_ms: float | None
    detect_p99_ms: float | None
    detect_errors: dict[str, int]
    health_samples: int
    health_p50_ms: float | None
    health_p99_ms: float | None
    health_max_ms: float | None
    health_errors: dict[str, int]
    cpu: CpuUse
    ratio: float | None = None


@dataclass
class _LoadStats:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    cpu: CpuUse | None = None


def multipart_bodies(images: Sequence[Image]) -> list[tuple[bytes, dict[str, str]]]:
    """Encodes each upload once, so the clients spend their CPU on sending, not on encoding.

    The bytes are what httpx itself sends for `files=`; only the work is hoisted out.
    """
    import httpx

    bodies = []
    for image in images:
        mime = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
        request = httpx.Request(
            "POST", f"http://{HOST}/v1/detect", files={"image": (image.name, image.data, mime)}
        )
        bodies.append((request.read(), {"content-type": request.headers["content-type"]}))
    return bodies


def raw_requests(bodies: Sequence[tuple[bytes, dict[str, str]]], port: int) -> list[bytes]:
    """Whole HTTP/1.1 requests as bytes: the load generator shares the server's two cores, so
    it only writes prepared bytes and reads replies, as wrk does, instead of running httpx."""
    return [
        (
            f"POST /v1/detect HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: {headers['content-type']}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body, headers in bodies
    ]


class _RawConnection:
    """One keep-alive connection that sends a prepared request and reads one reply."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, request: bytes) -> str:
        if self._streams is None:
            self._streams = await asyncio.open_connection(HOST, self._port)
        reader, writer = self._streams
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1].decode()
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            return status
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            raise

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def generate_load(
    server: Server,
    bodies: Sequence[tuple[bytes, dict[str, str]]],
    clients: int,
    window: Window,
    label: str,
) -> _LoadStats:
    stats = _LoadStats()
    requests = raw_requests(bodies, server.port)
    connections = [_RawConnection(server.port) for _ in range(clients)]
    try:

        async def upload(index: int) -> None:
            turn = index
            connection = connections[index]
            while time.monotonic() < window.end:
                request = requests[turn % len(requests)]
                turn += 1
                sent = time.monotonic()
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):
                        outcome = await connection.exchange(request)
                except (
                    OSError,
                    TimeoutError,
                    ValueError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                ) as exc:
                    outcome = type(exc).__name__
                done = time.monotonic()
                if done in window:
                    if outcome == "200":
                        stats.latencies.append(done - sent)
                    else:
                        stats.errors[outcome] += 1
                if outcome != "200":
                    # A refusing or dead server must not turn the client into a busy loop.
                    await asyncio.sleep(0.05)

        async def watch() -> None:
            meter: CpuMeter | None = None
            while (now := time.monotonic()) < window.end:
                if server.process.poll() is not None:
                    raise BenchError(
                        f"the server exited during the run; its log ends with:\n{server.log_tail()}"
                    )
                if now < window.start:
                    progress(f"{label}: warm-up {window.start - now:4.0f} s left")
                    await asyncio.sleep(min(TICK_S, window.start - now))
                    continue
                if meter is None:
                    meter = CpuMeter(server.process.pid)
                progress(
                    f"{label}: measuring {now - window.start:4.0f}/"
                    f"{window.end - window.start:.0f} s, {len(stats.latencies)} images so far"
                )
                await asyncio.sleep(min(TICK_S, window.end - now))
            if meter is not None:
                stats.cpu = meter.stop()

        bound = window.end - time.monotonic() + REQUEST_TIMEOUT_S + 5
        async with asyncio.timeout(bound), asyncio.TaskGroup() as tasks:
            tasks.create_task(watch())
            for index in range(clients):
                tasks.create_task(upload(index))
    finally:
        for connection in connections:
            connection.close()
    return stats


def measure_http(
    model: Path,
    bodies: Sequence[tuple[bytes, dict[str, str]]],
    *,
    pair: tuple[int, int] | None,
    clients: int,
    warmup_s: float,
    duration_s: float,
    health_interval_s: float,
    ready_timeout_s: float,
) -> HttpResult:
    concurrency, threads = pair or (
        service_default("inference_concurrency"),
        service_default("inference_threads"),
    )
    label = f"(b) concurrency {concurrency} x threads {threads}"
    progress(f"{label}: starting roadhazard serve" + (" (defaults)" if pair is None else ""))
    with running_server(model, pair, ready_timeout_s) as server:
        progress(f"{label}: ready on {server.url}")
        with health_probe(server.port, health_interval_s) as probe:
            window = Window(time.monotonic() + warmup_s, time.monotonic() + warmup_s + duration_s)
            probe.send((window.start, window.end))
            stats = asyncio.run(generate_load(server, bodies, clients, window, label))
            if not probe.poll(PROBE_TIMEOUT_S + 5):
                raise BenchError("the /health probe sent no results")
            health, health_errors = probe.recv()
    progress(f"{label}: server stopped")
    return HttpResult(
        concurrency=concurrency,
        threads=threads,
        defaults=pair is None,
        clients=clients,
        images=len(stats.latencies),
        seconds=duration_s,
        images_per_s=len(stats.latencies) / duration_s,
        detect_p50_ms=ms(percentile(stats.latencies, 50)),
        detect_p99_ms=ms(percentile(stats.latencies, 99)),
        detect_errors=dict(stats.errors),
        health_samples=len(health),
        health_p50_ms=ms(percentile(health, 50)),
        health_p99_ms=ms(percentile(health, 99)),
        health_max_ms=ms(max(health, default=None)),
        health_errors=health_errors,
        cpu=stats.cpu or CpuUse(None, 0.0, None),
    )
