"""Detection throughput: bare ONNX Runtime against POST /v1/detect, and /health under load.

GitHub issue 2. One run, one model, one set of images:

  (a) bare ONNX Runtime: `Detector.detect_bytes` (decode, letterbox, inference, decode of the
      head) called directly, for each plausible split of the CPUs into parallel callers and
      intra-op threads; the best split is the reference;
  (b) `POST /v1/detect` over real HTTP against `roadhazard serve` started as a subprocess,
      saturated by a few concurrent multipart clients;
  (c) `GET /health` latency p50/p99, probed during (b) from a separate process.

It prints (b)/(a) and the latencies against the issue's targets. `--sweep` repeats (b)+(c)
for several (ROADHAZARD_INFERENCE_CONCURRENCY, ROADHAZARD_INFERENCE_THREADS) pairs so that the
defaults can be chosen from data.

    .venv/bin/python bench/detect_throughput.py                    # the service's defaults
    .venv/bin/python bench/detect_throughput.py --sweep --duration 10

Only 127.0.0.1 is contacted and every phase is bounded in time. See bench/README.md.
"""

# Heavy modules (numpy, onnxruntime, httpx, roadhazard) are imported inside the functions that
# need them: the /health probe runs in a spawned process that re-imports this module, and it
# should start in milliseconds and stay small.
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import http.client
import json
import math
import mimetypes
import multiprocessing
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_MODELS = REPO_ROOT / ".." / "shared" / "models" / "ultralytics"
FALLBACK_MODEL = SHARED_MODELS / "yolov8n_raw.onnx"
FALLBACK_IMAGES = SHARED_MODELS / "images"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
# Enough variety to defeat any caching, few enough to keep every body in memory.
MAX_IMAGES = 100

RATIO_TARGET = 0.85
HEALTH_P99_TARGET_MS = 20.0

HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 2.0
READY_POLL_S = 0.25
SERVER_STOP_TIMEOUT_S = 15.0
TICK_S = 5.0

_STARTED = time.monotonic()


class BenchError(Exception):
    """Ends the run with one readable message instead of a traceback."""


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Image:
    name: str
    data: bytes


def default_model() -> Path:
    from roadhazard.settings import BUNDLED_MODEL

    return BUNDLED_MODEL if BUNDLED_MODEL.is_file() else FALLBACK_MODEL.resolve()


def default_images() -> Path:
    samples = REPO_ROOT / "samples"
    return samples if _image_files(samples) else FALLBACK_IMAGES.resolve()


def _image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_images(folder: Path) -> list[Image]:
    files = _image_files(folder)[:MAX_IMAGES]
    if not files:
        raise BenchError(
            f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}; pass --images DIR"
        )
    return [Image(p.name, p.read_bytes()) for p in files]


def cpu_count() -> int:
    # The CPUs this process may run on, which a container or taskset can make fewer than the
    # machine's; the server subprocess inherits the same set.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def plausible_splits(cpus: int) -> list[tuple[int, int]]:
    """(parallel callers, intra-op threads) pairs: one of each, plus every way to fill the CPUs.

    Splits that ask for more threads than CPUs only add contention, so they are left out.
    """
    powers = [2**k for k in range(cpus.bit_length()) if 2**k <= cpus]
    full = [(c, t) for c in powers for t in powers if c * t == max(powers)]
    return sorted({(1, 1), *full})


def parse_pairs(text: str) -> list[tuple[int, int]]:
    pairs = []
    for chunk in text.split(","):
        try:
            left, right = chunk.lower().split("x")
            pair = (int(left), int(right))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{chunk!r} is not CONCURRENCYxTHREADS, e.g. 2x1"
            ) from None
        if min(pair) < 1:
            raise argparse.ArgumentTypeError(f"{chunk!r}: both numbers must be at least 1")
        pairs.append(pair)
    return pairs


def service_default(name: str) -> Any:
    from roadhazard.settings import Settings

    return Settings.model_fields[name].default


# --------------------------------------------------------------------------------------------
# Measurement helpers


@dataclass(frozen=True)
class Window:
    """The measured period in time.monotonic() seconds, which all processes here share."""

    start: float
    end: float

    def __contains__(self, moment: float) -> bool:
        return self.start <= moment < self.end


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as numpy's default does."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def progress(message: str) -> None:
    # Progress goes to stderr so that `--json` leaves stdout to the summary alone.
    print(f"[{time.monotonic() - _STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class CpuUse:
    """Average CPU cores busy over a period; None where /proc cannot tell."""

    machine: float | None
    bench: float
    server: float | None

    @property
    def others(self) -> float | None:
        """Cores used by everything else, such as a training job sharing the machine."""
        if self.machine is None:
            return None
        return max(0.0, self.machine - self.bench - (self.server or 0.0))


class CpuMeter:
    """Tells whether the figures are trustworthy: who used the CPUs during a measurement."""

    def __init__(self, server_pid: int | None = None) -> None:
        self._server_pid = server_pid
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float | None, float | None]:
        return (time.monotonic(), time.process_time(), self._machine_busy(), self._server_cpu())

    def _machine_busy(self) -> float | None:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
        except (OSError, IndexError):
            return None
        ticks = [int(v) for v in fields]
        idle = ticks[3] + ticks[4]  # idle + iowait
        return (sum(ticks) - idle) / self._hz

    def _server_cpu(self) -> float | None:
        if self._server_pid is None:
            return None
        try:
            stat = Path(f"/proc/{self._server_pid}/stat").read_text()
        except OSError:
            return None
        # The command name may hold spaces, so count fields from its closing parenthesis.
        after_name = stat.rsplit(")", 1)[1].split()
        return (int(after_name[11]) + int(after_name[12])) / self._hz

    def stop(self) -> CpuUse:
        wall0, own0, machine0, server0 = self._start
        wall1, own1, machine1, server1 = self._sample()
        wall = max(wall1 - wall0, 1e-9)
        return CpuUse(
            machine=None if machine0 is None or machine1 is None else (machine1 - machine0) / wall,
            bench=(own1 - own0) / wall,
            server=None if server0 is None or server1 is None else (server1 - server0) / wall,
        )


# --------------------------------------------------------------------------------------------
# (a) bare ONNX Runtime


@dataclass(frozen=True)
class BareResult:
    callers: int
    threads: int
    images: int
    seconds: float
    images_per_s: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    cpu: CpuUse


def measure_bare(
    model: Path,
    images: Sequence[Image],
    *,
    callers: int,
    threads: int,
    warmup_s: float,
    duration_s: float,
) -> BareResult:
    from roadhazard.detection.engine import Detector
    from roadhazard.detection.postprocess import Thresholds

    # The same runtime choice, thresholds and limits as the service at its defaults, so that
    # (a) does exactly the per-image work that a request triggers.
    detector = Detector.load(
        model,
        "openvino" if model.suffix.lower() == ".xml" else "onnxruntime",
        threads=threads,
        concurrency=callers,
        default_imgsz=service_default("model_imgsz"),
    )
    thresholds = Thresholds(
        conf=service_default("conf_threshold"),
        iou=service_default("iou_threshold"),
        max_det=service_default("max_det"),
    )
    max_pixels: int = service_default("max_image_pixels")
    detector.warm_up(1)

    window = Window(time.monotonic() + warmup_s, time.monotonic() + warmup_s + duration_s)
    latencies: list[list[float]] = [[] for _ in range(callers)]
    failures: list[BaseException] = []

    def call(index: int) -> None:
        turn = index
        try:
            while time.monotonic() < window.end:
                image = images[turn % len(images)]
                turn += 1
                sent = time.monotonic()
                detector.detect_bytes(image.data, thresholds, max_pixels)
                done = time.monotonic()
                if done in window:
                    latencies[index].append(done - sent)
        except Exception as exc:  # noqa: BLE001 - the main thread reports it and exits
            failures.append(exc)

    workers = [
        threading.Thread(target=call, args=(i,), name=f"caller-{i}", daemon=True)
        for i in range(callers)
    ]
    for worker in workers:
        worker.start()
    _wait_until(window.start, f"(a) {callers} caller(s) x {threads} thread(s): warm-up")
    meter = CpuMeter()
    _wait_until(window.end, f"(a) {callers} caller(s) x {threads} thread(s): measuring", window)
    cpu = meter.stop()
    for worker in workers:
        worker.join(timeout=REQUEST_TIMEOUT_S)
    if failures:
        raise BenchError(f"the detector failed: {failures[0]!r}")
    done = [value for per_caller in latencies for value in per_caller]
    return BareResult(
        callers=callers,
        threads=threads,
        images=len(done),
        seconds=duration_s,
        images_per_s=len(done) / duration_s,
        latency_p50_ms=_ms(percentile(done, 50)),
        latency_p99_ms=_ms(percentile(done, 99)),
        cpu=cpu,
    )


def _wait_until(deadline: float, label: str, window: Window | None = None) -> None:
    while (now := time.monotonic()) < deadline:
        if window is not None:
            progress(f"{label} {now - window.start:4.0f}/{window.end - window.start:.0f} s")
        else:
            progress(f"{label}")
        time.sleep(min(TICK_S, max(0.0, deadline - now)))


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


# --------------------------------------------------------------------------------------------
# The server under test


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(the server log is empty)"


@contextlib.contextmanager
def running_server(
    model: Path, pair: tuple[int, int] | None, ready_timeout_s: float
) -> Iterator[Server]:
    """`roadhazard serve` on a free loopback port, terminated on every way out."""
    # A developer's ROADHAZARD_* variables or .env would silently change what is measured, so
    # the server gets a clean environment and a scratch working directory (which also keeps its
    # ./data out of the repository).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROADHAZARD_")}
    port = free_port()
    env.update(
        ROADHAZARD_MODEL_PATH=str(model),
        ROADHAZARD_HOST=HOST,
        ROADHAZARD_PORT=str(port),
    )
    if pair is not None:
        env["ROADHAZARD_INFERENCE_CONCURRENCY"] = str(pair[0])
        env["ROADHAZARD_INFERENCE_THREADS"] = str(pair[1])
    with tempfile.TemporaryDirectory(prefix="roadhazard-bench-") as scratch:
        log_path = Path(scratch) / "server.log"
        # A file, not a pipe: nobody reads the log while measuring, and a full pipe would
        # block the server's access log and so the server itself.
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "roadhazard.cli",
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                ],
                cwd=scratch,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session, so Ctrl-C reaches only this script, which then stops the
                # server in order instead of racing uvicorn's own signal handling.
                start_new_session=True,
            )
        server = Server(process, port, log_path)
        try:
            _wait_ready(server, ready_timeout_s)
            yield server
        finally:
            _stop(process)


def _wait_ready(server: Server, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    next_note = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=PROBE_TIMEOUT_S, trust_env=False) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise BenchError(
                    f"the server exited with status {server.process.returncode} before it was "
                    f"ready; its log ends with:\n{server.log_tail()}"
                )
            try:
                response = client.get("/ready")
                if response.status_code == 200:
                    return
                last = f"/ready answered {response.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
            if time.monotonic() >= next_note:
                progress(f"waiting for {server.url}/ready ({last})")
                next_note += TICK_S
            time.sleep(READY_POLL_S)
    raise BenchError(
        f"the server was not ready within {timeout_s:g} s ({last}); its log ends with:\n"
        f"{server.log_tail()}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SERVER_STOP_TIMEOUT_S)


# --------------------------------------------------------------------------------------------
# (c) the /health probe, in its own process


def probe_health(port: int, interval_s: float, conn: Connection) -> None:
    """Runs in a spawned process: GET /health every interval, timing each in the window.

    A process of its own, with a blocking client, so that neither the load generator's busy
    event loop nor its GIL delays the probe and inflates the latency it reports.
    """
    # The parent stops this process itself; Ctrl-C would only add a second traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send("ready")
    if not conn.poll(REQUEST_TIMEOUT_S):
        return
    start, end = conn.recv()
    window = Window(start, end)
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    next_at = time.monotonic()
    while (sent := time.monotonic()) < window.end:
        # A new connection per probe, as a kubelet or load balancer makes, so accepting it on
        # the server's event loop counts too.
        outcome = "200"
        try:
            client = http.client.HTTPConnection(HOST, port, timeout=PROBE_TIMEOUT_S)
            try:
                client.request("GET", "/health")
                response = client.getresponse()
                response.read()
                outcome = str(response.status)
            finally:
                client.close()
        except (OSError, http.client.HTTPException) as exc:
            outcome = type(exc).__name__
        done = time.monotonic()
        if sent in window:
            if outcome == "200":
                latencies.append(done - sent)
            else:
                failures[outcome] += 1
        # A slow answer delays the next probe instead of triggering a catch-up burst.
        next_at = max(next_at + interval_s, done)
        time.sleep(max(0.0, next_at - time.monotonic()))
    conn.send((latencies, dict(failures)))


@contextlib.contextmanager
def health_probe(port: int, interval_s: float) -> Iterator[Connection]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=probe_health, args=(port, interval_s, child), name="health-probe", daemon=True
    )
    process.start()
    try:
        if not parent.poll(REQUEST_TIMEOUT_S):
            raise BenchError("the /health probe process did not start")
        parent.recv()
        yield parent
    finally:
        process.join(timeout=PROBE_TIMEOUT_S + 1)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)


# --------------------------------------------------------------------------------------------
# (b) POST /v1/detect at saturation


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


async def generate_load(
    server: Server,
    bodies: Sequence[tuple[bytes, dict[str, str]]],
    clients: int,
    window: Window,
    label: str,
) -> _LoadStats:
    import httpx

    stats = _LoadStats()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=5.0)

    async with httpx.AsyncClient(
        base_url=server.url, limits=limits, timeout=timeout, trust_env=False
    ) as client:

        async def upload(index: int) -> None:
            turn = index
            while time.monotonic() < window.end:
                body, headers = bodies[turn % len(bodies)]
                turn += 1
                sent = time.monotonic()
                try:
                    response = await client.post("/v1/detect", content=body, headers=headers)
                    outcome = str(response.status_code)
                except httpx.HTTPError as exc:
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
        detect_p50_ms=_ms(percentile(stats.latencies, 50)),
        detect_p99_ms=_ms(percentile(stats.latencies, 99)),
        detect_errors=dict(stats.errors),
        health_samples=len(health),
        health_p50_ms=_ms(percentile(health, 50)),
        health_p99_ms=_ms(percentile(health, 99)),
        health_max_ms=_ms(max(health, default=None)),
        health_errors=health_errors,
        cpu=stats.cpu or CpuUse(None, 0.0, None),
    )


# --------------------------------------------------------------------------------------------
# Report


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _errors(errors: dict[str, int]) -> str:
    return ",".join(f"{k}:{v}" for k, v in sorted(errors.items())) or "0"


def meets_targets(result: HttpResult) -> tuple[bool, bool]:
    ratio_ok = result.ratio is not None and result.ratio >= RATIO_TARGET
    health_ok = (
        result.health_p99_ms is not None
        and result.health_p99_ms <= HEALTH_P99_TARGET_MS
        and not result.health_errors
    )
    return ratio_ok and not result.detect_errors, health_ok


def report(
    out: IO[str],
    header: dict[str, Any],
    bare: Sequence[BareResult],
    best: BareResult,
    http: Sequence[HttpResult],
    sweep: bool,
) -> None:
    def line(text: str = "") -> None:
        print(text, file=out)

    line("Roadhazard detection throughput (GitHub issue 2)")
    for key, value in header.items():
        line(f"  {key:<9} {value}")
    line()
    line("(a) bare ONNX Runtime: Detector.detect_bytes, decode + letterbox + inference + decode")
    line("    callers x threads   images/s   p50 ms   p99 ms   cpu: machine  this  others")
    for row in bare:
        mark = "  <- best" if row is best else ""
        line(
            f"    {row.callers:>7} x {row.threads:<7}  {row.images_per_s:9.1f}"
            f"  {_fmt(row.latency_p50_ms):>7}  {_fmt(row.latency_p99_ms):>7}"
            f"   {_fmt(row.cpu.machine, 2):>12}  {row.cpu.bench:4.2f}"
            f"  {_fmt(row.cpu.others, 2):>6}{mark}"
        )
    line()
    clients = http[0].clients if http else 0
    line(
        f"(b) POST /v1/detect over HTTP, {clients} concurrent multipart clients; "
        f"(c) GET /health from a separate process"
    )
    line(
        "    conc x thr   images/s  (b)/(a)  detect p50/p99 ms  health p50/p99/max ms    n"
        "  errors      cpu: server client others"
    )
    for served in http:
        name = f"{served.concurrency} x {served.threads}" + (" *" if served.defaults else "")
        errors = f"{_errors(served.detect_errors)}/{_errors(served.health_errors)}"
        line(
            f"    {name:<10} {served.images_per_s:9.1f}  {_fmt(served.ratio, 3):>7}"
            f"  {_fmt(served.detect_p50_ms):>8}/{_fmt(served.detect_p99_ms):<8}"
            f"  {_fmt(served.health_p50_ms):>7}/{_fmt(served.health_p99_ms)}"
            f"/{_fmt(served.health_max_ms):<7} {served.health_samples:>5}"
            f"  {errors:<10}  {_fmt(served.cpu.server, 2):>11}"
            f" {served.cpu.bench:6.2f} {_fmt(served.cpu.others, 2):>6}"
        )
    line("    * the service's defaults (no inference variables passed)")
    line("    errors: detect/health failures in the measured period, by status or exception")
    line()
    line(
        f"Targets: (b)/(a) >= {RATIO_TARGET} against the best bare split "
        f"({best.callers} x {best.threads}, {best.images_per_s:.1f} images/s); "
        f"/health p99 <= {HEALTH_P99_TARGET_MS:g} ms"
    )
    for served in http:
        ratio_ok, health_ok = meets_targets(served)
        line(
            f"    {served.concurrency} x {served.threads}: throughput "
            f"{'PASS' if ratio_ok else 'FAIL'} ({_fmt(served.ratio, 3)}), /health "
            f"{'PASS' if health_ok else 'FAIL'} (p99 {_fmt(served.health_p99_ms)} ms)"
        )
    if sweep:
        line()
        line(suggestion(http))


def suggestion(http: Sequence[HttpResult]) -> str:
    eligible = sorted(
        (r for r in http if meets_targets(r)[1] and not r.detect_errors),
        key=lambda r: r.images_per_s,
        reverse=True,
    )
    if not eligible:
        return "Suggested default: none of the pairs kept /health p99 within its target."
    best = eligible[0]
    text = (
        f"Suggested default (fastest with /health p99 within target): "
        f"ROADHAZARD_INFERENCE_CONCURRENCY={best.concurrency} "
        f"ROADHAZARD_INFERENCE_THREADS={best.threads} ({best.images_per_s:.1f} images/s)"
    )
    if len(eligible) > 1:
        runner_up = eligible[1]
        gap = 1 - runner_up.images_per_s / best.images_per_s
        text += (
            f"; runner-up {runner_up.concurrency} x {runner_up.threads} is {gap:.1%} slower"
            " (check the 'others' CPU column before trusting a gap of a few percent)"
        )
    return text


# --------------------------------------------------------------------------------------------
# Entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Bare ONNX Runtime vs POST /v1/detect throughput, and /health latency.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model",
        type=Path,
        help="model file (default: the bundled model, else "
        "../shared/models/ultralytics/yolov8n_raw.onnx)",
    )
    parser.add_argument(
        "--images",
        type=Path,
        help="folder of images (default: samples/ if it has images, else "
        "../shared/models/ultralytics/images)",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="warm-up seconds per phase")
    parser.add_argument("--clients", type=int, default=4, help="concurrent upload clients")
    parser.add_argument(
        "--health-interval-ms", type=float, default=20.0, help="pause between /health probes"
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="measure (b)+(c) for several concurrency x threads pairs instead of the defaults",
    )
    parser.add_argument(
        "--pairs",
        type=parse_pairs,
        help="the pairs --sweep measures, e.g. 1x1,1x2,2x1 (default: 1x1 and every way to "
        "fill the CPUs)",
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=120.0, help="seconds to wait for /ready"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON summary on stdout; the human report moves to stderr",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    if args.duration <= 0 or args.warmup < 0 or args.clients < 1 or args.health_interval_ms <= 0:
        raise BenchError(
            "--duration and --health-interval-ms must be positive, --warmup at least 0, "
            "--clients at least 1"
        )
    model: Path = (args.model or default_model()).resolve()
    if not model.is_file():
        raise BenchError(
            f"model not found: {model}; pass --model PATH (the bundled model and "
            f"{FALLBACK_MODEL.resolve()} are both missing)"
        )
    images = load_images((args.images or default_images()).resolve())
    cpus = cpu_count()
    splits = plausible_splits(cpus)
    pairs: list[tuple[int, int] | None] = list(args.pairs or splits) if args.sweep else [None]

    import onnxruntime

    header = {
        "model": str(model),
        "images": f"{len(images)} from {args.images or default_images()}, "
        f"{min(len(i.data) for i in images) // 1024}-{max(len(i.data) for i in images) // 1024}"
        " KiB",
        "machine": f"{cpus} CPUs usable, {platform.machine()}, Python {platform.python_version()},"
        f" onnxruntime {onnxruntime.__version__}",
        "defaults": f"ROADHAZARD_INFERENCE_CONCURRENCY={service_default('inference_concurrency')}"
        f" ROADHAZARD_INFERENCE_THREADS={service_default('inference_threads')}"
        f" ROADHAZARD_INFERENCE_QUEUE_SIZE={service_default('inference_queue_size')}",
        "periods": f"{args.warmup:g} s warm-up + {args.duration:g} s measured per phase,"
        f" {args.clients} clients, /health every {args.health_interval_ms:g} ms",
    }
    for key, value in header.items():
        progress(f"{key}: {value}")

    bare: list[BareResult] = []
    for callers, threads in splits:
        measured = measure_bare(
            model,
            images,
            callers=callers,
            threads=threads,
            warmup_s=min(args.warmup, 2.0),
            duration_s=args.duration,
        )
        progress(f"(a) {callers} x {threads}: {measured.images_per_s:.1f} images/s")
        bare.append(measured)
    best = max(bare, key=lambda r: r.images_per_s)

    bodies = multipart_bodies(images)
    http: list[HttpResult] = []
    for pair in pairs:
        result = measure_http(
            model,
            bodies,
            pair=pair,
            clients=args.clients,
            warmup_s=args.warmup,
            duration_s=args.duration,
            health_interval_s=args.health_interval_ms / 1000,
            ready_timeout_s=args.ready_timeout,
        )
        ratio = result.images_per_s / best.images_per_s if best.images_per_s else None
        result = dataclasses.replace(result, ratio=ratio)
        progress(
            f"(b) {result.concurrency} x {result.threads}: {result.images_per_s:.1f} images/s, "
            f"(b)/(a) {_fmt(ratio, 3)}, /health p99 {_fmt(result.health_p99_ms)} ms"
        )
        http.append(result)

    human = sys.stderr if args.json else sys.stdout
    report(human, header, bare, best, http, args.sweep)
    if args.json:
        summary = {
            "header": header,
            "targets": {"ratio": RATIO_TARGET, "health_p99_ms": HEALTH_P99_TARGET_MS},
            "bare": [asdict(r) | {"cpu_others": r.cpu.others} for r in bare],
            "bare_best": {"callers": best.callers, "threads": best.threads},
            "http": [
                asdict(r)
                | {
                    "cpu_others": r.cpu.others,
                    "ratio_ok": meets_targets(r)[0],
                    "health_ok": meets_targets(r)[1],
                }
                for r in http
            ],
        }
        if args.sweep:
            summary["suggestion"] = suggestion(http)
        print(json.dumps(summary, indent=2))
    return 0


def _terminate_on_sigterm() -> None:
    # SIGTERM (from a CI runner or `timeout`) takes the same path as Ctrl-C, so the server
    # subprocess is stopped by the finally blocks instead of being orphaned.
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _terminate_on_sigterm()
    try:
        return run(args)
    except BenchError as exc:
        print(f"detect_throughput: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("detect_throughput: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
