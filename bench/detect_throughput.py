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

Only 127.0.0.1 is contacted and every phase is bounded in time. This file is the entry point;
the phases live in the `throughput` package beside it. See bench/README.md.
"""

# Heavy modules (numpy, onnxruntime, httpx, roadhazard) are imported inside the functions that
# need them, here and in every `throughput` module: the /health probe runs in a spawned process
# that re-imports this script, and so all that it imports, and it should start in milliseconds
# and stay small. `throughput` resolves because Python puts this script's folder on sys.path.
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from throughput.bare import BareResult, measure_bare
from throughput.inputs import (
    FALLBACK_MODEL,
    cpu_count,
    default_images,
    default_model,
    load_images,
    plausible_splits,
    service_default,
)
from throughput.load import HttpResult, measure_http, multipart_bodies
from throughput.measure import BenchError, progress, run_cli
from throughput.report import fmt, report, summary


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
            f"(b)/(a) {fmt(ratio, 3)}, /health p99 {fmt(result.health_p99_ms)} ms"
        )
        http.append(result)

    human = sys.stderr if args.json else sys.stdout
    report(human, header, bare, best, http, args.sweep)
    if args.json:
        print(json.dumps(summary(header, bare, best, http, args.sweep), indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("detect_throughput", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
