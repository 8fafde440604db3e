"""Log lines leave the process from one thread of their own, so a slow stderr never stalls
the event loop.

A line is formatted where it is logged (the request id lives in that task's context, and the
formatting is bounded by the sanitizer's cut), then queued; a daemon thread writes it. When
stderr is stuck (a full pipe, a stalled log collector) the queue fills and further lines are
dropped and counted, instead of blocking the caller or growing without bound. Once the
service stops serving, the thread is ended and later lines are written directly.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import TextIO

QUEUE_LINES = 10_000
POLL_S = 0.02  # how long a line may wait in the queue before it is written
FLUSH_TIMEOUT_S = 5.0

_STOP = object()


class LineWriter:
    """Writes queued lines to `stream` from a daemon thread; until `close`, `put` never blocks."""

    def __init__(self, stream: TextIO, *, capacity: int = QUEUE_LINES) -> None:
        self._stream = stream
        self._queue: queue.Queue[object] = queue.Queue(capacity)
        self._lock = threading.Lock()
        self._dropped = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def put(self, line: str) -> bool:
        with self._lock:
            if self._closed:
                self._write(line)
                return True
            try:
                self._queue.put_nowait(line)
            except queue.Full:
                self._dropped += 1
                return False
        return True

    def has_room(self) -> bool:
        return not self._queue.full()

    def take_dropped(self) -> int:
        """How many lines were dropped since the last call."""
        with self._lock:
            dropped, self._dropped = self._dropped, 0
        return dropped

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> bool:
        """Blocks until every line queued before the call is written; False on timeout."""
        if self._closed:
            self._flush_stream()
            return True
        written = threading.Event()
        try:
            self._queue.put(written, timeout=timeout_s)
        except queue.Full:
            return False
        return written.wait(timeout_s)

    def close(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Writes what is queued and ends the thread; later lines are written by the caller.

        For the end of a process: once it no longer serves, a blocking write harms nobody,
        and a process that ends by a re-raised SIGTERM runs no atexit hook to flush a queue.
        """
        # Held throughout, so no line is queued behind the stop, and the order is kept.
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(queue.Full):  # a stuck stream: the thread is left behind
                self._queue.put(_STOP, timeout=timeout_s)
            self._thread.join(timeout_s)
            self._closed = True

    def _run(self) -> None:
        # The thread wakes on a clock and writes everything queued since, rather than waking
        # for each line: a wake-up per line made the event loop hand the GIL over once per
        # request, which cost about a tenth of the HTTP throughput (make bench).
        while True:
            time.sleep(POLL_S)
            lines: list[str] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, str):
                    lines.append(item)
                    continue
                self._write_lines(lines)
                lines = []
                self._flush_stream()
                if item is _STOP:
                    return
                if isinstance(item, threading.Event):
                    item.set()
            self._write_lines(lines)

    def _write_lines(self, lines: list[str]) -> None:
        if lines:
            with contextlib.suppress(OSError, ValueError):
                self._stream.write("\n".join(lines) + "\n")
                self._stream.flush()

    def _write(self, line: str) -> None:
        # A closed or broken stream: there is nowhere left to say so.
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(line + "\n")
            if self._queue.empty():
                self._stream.flush()

    def _flush_stream(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()


class QueuedStreamHandler(logging.Handler):
    """A logging handler that formats in the caller and leaves the writing to a `LineWriter`."""

    def __init__(self, writer: LineWriter) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # Said once there is room again (emits are serialised by the handler's lock).
            dropped = self.writer.take_dropped() if self.writer.has_room() else 0
            if dropped:
                self.writer.put(self.format(_dropped_record(dropped)))
            self.writer.put(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never raise into the code that logs
            self.handleError(record)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
        super().close()


def _dropped_record(count: int) -> logging.LogRecord:
    return logging.LogRecord(
        __name__,
        logging.WARNING,
        __file__,
        0,
        "log_lines_dropped: %d lines were dropped while stderr could not keep up",
        (count,),
        None,
    )
