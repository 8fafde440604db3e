"""CLI: render demo JPEGs for the README, ``python -m tools.synth.samples --out samples``.

Uses a seed the training data never used, and keeps only scenes that show at least
``--min-hazards`` labelled hazards so every sample demonstrates something.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.synth.scene import render_scene

SAMPLE_SEED = 4242  # training uses seed 1000; keep these apart


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render README sample images.")
    parser.add_argument("--out", type=Path, default=Path("samples"))
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--seed", type=int, default=SAMPLE_SEED)
    parser.add_argument("--min-hazards", type=int, default=2)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written, index = 0, 0
    while written < args.count:
        sample = render_scene(args.seed, index)
        index += 1
        if len(sample.boxes) < args.min_hazards:
            continue
        written += 1
        path = args.out / f"road_{written}.jpg"
        path.write_bytes(sample.jpeg)
        print(f"{path}: {len(sample.boxes)} hazards (scene {args.seed}/{index - 1})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
