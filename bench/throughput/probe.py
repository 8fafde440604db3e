"""Phase (c): the /health probe, run in a spawned process of its own during phase (b)."""

# Standard library only: the spawned process imports this module by name to find
# probe_health, and it should start in milliseconds and stay small.
from __future__ import annotations

import contextlib
import http.client
import multiprocessing
import signal
import time
from collections import Counter
from collections.abc import Iterator
from multiprocessing.connection import Connection

from .measure import HOST, PROBE_TIMEOUT_S, REQUEST_TIMEOUT_S, BenchError, Window


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
