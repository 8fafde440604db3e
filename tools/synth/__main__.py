"""CLI: ``python -m tools.synth --out DIR --count N --seed S``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tools.synth.dataset import write_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a synthetic YOLO road-hazard dataset.")
    parser.add_argument("--out", type=Path, required=True, help="output dataset folder")
    parser.add_argument("--count", type=int, default=1000, help="number of images in total")
    parser.add_argument("--seed", type=int, default=0, help="base seed; same seed, same bytes")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share put in val/")
    args = parser.parse_args(argv)

    started = time.monotonic()

    def report(done: int, total: int) -> None:
        if done == total or done % 50 == 0:
            rate = done / max(time.monotonic() - started, 1e-6)
            print(f"\r{done}/{total} images ({rate:.1f}/s)", end="", file=sys.stderr, flush=True)

    summary = write_dataset(args.out, args.count, args.seed, args.val_fraction, report)
    print(file=sys.stderr)
    print(f"wrote {summary.images} images, {summary.boxes} boxes to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
