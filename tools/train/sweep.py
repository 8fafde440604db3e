"""Figures for choosing the input size and the network's width and depth.

Two measurements, both printed as Markdown tables for the model card:

* ``speed``: ONNX Runtime images/s of each candidate architecture at each input size, one
  intra-op thread per session and one session per core, as the service runs them;
* ``sizes``: one trained checkpoint scored on the validation splits at several input
  sizes (the network is fully convolutional), which shows what a smaller input loses.

    python -m tools.train.sweep speed --sizes 320,416,480,512
    python -m tools.train.sweep sizes --checkpoint runs/train/last.pt --sizes 320,416,480
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from tools.synth.scene import CLASS_NAMES
from tools.train.checkpoint import trained_detector
from tools.train.export import export_onnx
from tools.train.model import Detector
from tools.train.progress import log
from tools.train.train import DEFAULT_DATA
from tools.train.validation import (
    TrainingData,
    accumulate,
    add_data_arguments,
    load_validation_data,
    resized,
)

ARCHITECTURES = {
    "narrow": ((16, 24, 48, 96, 160), (1, 2, 2, 1)),
    "base": ((16, 32, 64, 128, 192), (1, 2, 2, 1)),
    "base-shallow": ((16, 32, 64, 128, 192), (1, 1, 1, 1)),
    "base-deep": ((16, 32, 64, 128, 192), (1, 3, 3, 2)),
    "wide": ((24, 48, 96, 160, 256), (1, 2, 2, 1)),
}


def _sizes(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def onnx_rate(path: Path, size: int, seconds: float, cores: int) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = [ort.InferenceSession(str(path), options) for _ in range(cores)]
    image = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)

    def run(session: ort.InferenceSession) -> int:
        session.run(None, {"images": image})  # warm-up
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            session.run(None, {"images": image})
            count += 1
        return count

    start = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        total = sum(pool.map(run, sessions))
    return total / (time.perf_counter() - start)


def speed(sizes: list[int], seconds: float, cores: int) -> None:
    print("| network | widths | depths | params | " + " | ".join(f"{s} px" for s in sizes) + " |")
    print("| --- | --- | --- | ---: | " + " | ".join("---:" for _ in sizes) + " |")
    with tempfile.TemporaryDirectory() as folder:
        for name, (widths, depths) in ARCHITECTURES.items():
            model = Detector(len(CLASS_NAMES), widths, depths).eval()
            params = sum(p.numel() for p in model.parameters()) / 1e6
            rates = []
            for size in sizes:
                path = Path(folder) / f"{name}_{size}.onnx"
                export_onnx(model, CLASS_NAMES, size, path)
                rates.append(onnx_rate(path, size, seconds, cores))
                log(f"  {name} {size}px: {rates[-1]:.1f} images/s")
            cells = " | ".join(f"{r:.0f}" for r in rates)
            print(f"| {name} | {widths} | {depths} | {params:.2f} M | {cells} |", flush=True)


def sizes(checkpoint: Path, data: TrainingData, image_sizes: list[int]) -> None:
    detector, _ = trained_detector(checkpoint)
    print("| input | " + " | ".join(f"{s.name} F1 | {s.name} mAP50" for s in data.val) + " |")
    print("| ---: | " + " | ".join("---: | ---:" for _ in data.val) + " |")
    for size in image_sizes:
        cells = []
        for split in data.val:
            summary = accumulate(detector, resized(split, size), size).summary()
            cells.append(f"{summary.f1:.3f} | {summary.map50:.3f}")
        print(f"| {size} px | " + " | ".join(cells) + " |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    timing = commands.add_parser("speed", help="ONNX Runtime images/s per architecture")
    timing.add_argument("--sizes", type=_sizes, default=[320, 416, 480, 512])
    timing.add_argument("--seconds", type=float, default=4.0)
    timing.add_argument("--cores", type=int, default=2)
    scoring = commands.add_parser("sizes", help="one checkpoint at several input sizes")
    scoring.add_argument("--checkpoint", type=Path, required=True)
    scoring.add_argument("--sizes", type=_sizes, default=[320, 416, 480])
    add_data_arguments(scoring, DEFAULT_DATA)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    if args.command == "speed":
        speed(args.sizes, args.seconds, args.cores)
        return 0
    _, arch = trained_detector(args.checkpoint)
    sizes(args.checkpoint, load_validation_data(args, arch), args.sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
