"""Phase (a): the detector called directly, without HTTP, as the throughput reference."""

# roadhazard is imported inside measure_bare, to keep this module light.
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .inputs import Image, service_default
from .measure import (
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
    from roadhazard.detection.confidence import resolve_default_confidence
    from roadhazard.detection.engine import Detector

    # The same runtime choice, thresholds and limits as the service at its defaults, so that
    # (a) does exactly the per-image work that a request triggers.
    detector = Detector.load(
        model,
        "openvino" if model.suffix.lower() == ".xml" else "onnxruntime",
        threads=threads,
        concurrency=callers,
        default_imgsz=service_default("model_imgsz"),
    )
    # The service's default confidence: the setting if set, else the model's per-class
    # thresholds (class_conf metadata), else 0.25.
    defaults = resolve_default_confidence(
        service_default("conf_threshold"), detector.card.class_conf, detector.card.num_classes
    )
    thresholds = defaults.thresholds(service_default("iou_threshold"), service_default("max_det"))
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
        latency_p50_ms=ms(percentile(done, 50)),
        latency_p99_ms=ms(percentile(done, 99)),
        cpu=cpu,
    )


def _wait_until(deadline: float, label: str, window: Window | None = None) -> None:
    while (now := time.monotonic()) < deadline:
        if window is not None:
            progress(f"{label} {now - window.start:4.0f}/{window.end - window.start:.0f} s")
        else:
            progress(f"{label}")
        time.sleep(min(TICK_S, max(0.0, deadline - now)))
