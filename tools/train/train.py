"""Training loop over several YOLO datasets, with partial labels, resumable checkpoints.

The learning-rate schedule runs on *progress*, the larger of (steps done / planned steps)
and (time used / time budget), so a run always anneals fully and ends on time whatever the
machine's speed. Time spent before a resume counts against the same budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch

from tools.synth.scene import CLASS_NAMES
from tools.train.checkpoint import (
    EMA,
    Architecture,
    Progress,
    architecture_of,
    ema_weights,
    load,
    restore,
    save_weights,
)
from tools.train.checkpoint import save as save_checkpoint
from tools.train.data import Augmenter, Batch, epoch_order, prefetched, train_batches
from tools.train.loss import detection_loss
from tools.train.model import DEFAULT_DEPTHS, Detector, make_anchors
from tools.train.progress import ProgressBar, log
from tools.train.sources import DatasetSpec, repeat_factors
from tools.train.validation import TrainingData, load_training_data, validate_all

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared" / "datasets"
DEFAULT_DATA = (f"{SHARED / 'rdd2022'}", f"{SHARED / 'potholes'}:Pothole")
CHECKPOINT_EVERY_S = 600.0


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train the Roadhazard detector on several YOLO datasets at once.",
        epilog="Each --data is DIR[:NAME,NAME...][*WEIGHT]: names for a dataset without "
        "data.yaml, and how often its images are drawn relative to the others.",
    )
    parser.add_argument("--data", action="append", type=DatasetSpec.parse, help="a dataset")
    parser.add_argument(
        "--synth", type=Path, default=Path("runs/synth"), help="synthetic set (made if absent)"
    )
    parser.add_argument("--synth-count", type=int, default=1800)
    parser.add_argument("--synth-seed", type=int, default=1000)
    parser.add_argument("--synth-weight", type=float, default=0.5)
    parser.add_argument("--no-synth", action="store_true", help="train on --data only")
    parser.add_argument("--out", type=Path, default=Path("runs/train"))
    parser.add_argument("--export", type=Path, default=None, help="ONNX path (OUT/model.onnx)")
    parser.add_argument("--resume", type=Path, default=None, help="a checkpoint to continue")
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from these weights (a checkpoint or weights.pt) with a fresh optimiser "
        "and schedule, e.g. to continue a shipped model on more data or time",
    )
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--time-budget", type=float, default=120.0, help="minutes of training")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--imgsz", type=int, default=512)
    parser.add_argument("--widths", type=_ints, default=(16, 32, 64, 128, 192))
    parser.add_argument("--depths", type=_ints, default=DEFAULT_DEPTHS)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--scale",
        type=_floats,
        default=(0.5, 1.5),
        help="MIN,MAX random zoom of a letterboxed image (default 0.5,1.5)",
    )
    parser.add_argument(
        "--mosaic", type=float, default=0.4, help="share of 2x2 mosaics, at half scale"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads (batches are built beside)"
    )
    parser.add_argument("--no-export", action="store_true", help="stop after training")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    args = parser.parse_args(argv)
    args.data = args.data or [DatasetSpec.parse(text) for text in DEFAULT_DATA]
    return args


def make_optimizer(model: Detector, lr: float) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (decay if parameter.ndim > 1 and "bn" not in name else no_decay).append(parameter)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.999),
    )


def learning_rate(base: float, step: int, progress: float) -> float:
    warmup = min(1.0, (step + 1) / 300)
    return base * warmup * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


class Trainer:
    def __init__(self, args: argparse.Namespace, data: TrainingData, arch: Architecture):
        self.args, self.data, self.arch = args, data, arch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.rng = np.random.default_rng(args.seed)
        # bf16 autocast with channels-last tensors runs about 4x faster than fp32 on CPUs
        # with AVX512-BF16 (measured on this project's 2-core machine); the loss, the
        # optimiser state and the EMA weights stay fp32.
        self.autocast = not args.fp32
        self.model = arch.build().to(self.device, memory_format=torch.channels_last)
        self.ema = EMA(self.model)
        self.optimizer = make_optimizer(self.model, args.lr)
        self.progress = Progress()
        if args.resume is not None:
            self.progress = restore(
                load(args.resume), self.model, self.ema, self.optimizer, self.rng
            )
            log(f"resumed {args.resume} at epoch {self.progress.epoch} step {self.progress.step}")
        elif args.init is not None:
            weights = ema_weights(load(args.init))
            self.model.load_state_dict(weights)
            self.ema.model.load_state_dict(weights)
            log(f"starting from the weights of {args.init}")
        self.centres, self.strides = make_anchors(arch.imgsz, self.device)
        self.augmenter = Augmenter(
            data.train, arch.imgsz, self.rng, scale=args.scale, mosaic=args.mosaic
        )
        self.factors = repeat_factors(
            [item.classes for item in data.train],
            [item.source for item in data.train],
            data.sources,
        )
        self.masks = np.stack([s.label_mask(len(arch.names)) for s in data.sources])
        self.planned_steps = len(data.train) // args.batch * args.epochs
        self.budget_s = args.time_budget * 60

    def fraction_done(self, elapsed_s: float) -> float:
        return max(self.progress.step / self.planned_steps, elapsed_s / self.budget_s)

    def run(self) -> None:
        bar = ProgressBar(self.budget_s, self.planned_steps)
        session_start = time.monotonic() - self.progress.elapsed_s
        last_save = time.monotonic()
        while self.fraction_done(self.progress.elapsed_s) < 1.0:
            self.progress.epoch += 1
            order = epoch_order(self.factors, self.rng)
            batches = train_batches(self.augmenter, order, self.masks, self.args.batch)
            for batch in prefetched(batches):
                self.progress.elapsed_s = time.monotonic() - session_start
                done = self.fraction_done(self.progress.elapsed_s)
                if done >= 1.0:
                    break
                box, cls = self.step(batch, learning_rate(self.args.lr, self.progress.step, done))
                bar.update(self.progress, done, box, cls, self.args.batch)
                if time.monotonic() - last_save > CHECKPOINT_EVERY_S:
                    self.save("last.pt")
                    last_save = time.monotonic()
            bar.finish_epoch(self.progress, validate_all(self.ema.model, self.data, self.arch))
            self.save("last.pt")
            save_weights(self.args.out / "weights.pt", self.arch, self.ema)
            last_save = time.monotonic()

    def step(self, batch: Batch, lr: float) -> tuple[float, float]:
        batch = batch.to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        images = batch.images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.autocast):
            distances, logits = self.model(images)
        parts = detection_loss(
            distances.float(),
            logits.float(),
            self.centres,
            self.strides,
            batch.boxes,
            batch.classes,
            batch.valid,
            batch.label_mask,
        )
        self.optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
        self.optimizer.step()
        self.ema.update(self.model)
        self.progress.step += 1
        return parts.box, parts.cls

    def save(self, name: str) -> None:
        save_checkpoint(
            self.args.out / name,
            self.arch,
            self.model,
            self.ema,
            self.optimizer,
            self.progress,
            self.rng,
        )


def architecture_for(args: argparse.Namespace) -> Architecture:
    """A resumed run keeps its checkpoint's network and input size. Weights given by
    `--init` fix the network's shape, but the input size is this run's own choice: the
    network is fully convolutional, so e.g. a model trained at 480 px can go on at 384 px."""
    if args.resume is not None:
        return architecture_of(load(args.resume))
    if args.init is not None:
        return dataclasses.replace(architecture_of(load(args.init)), imgsz=args.imgsz)
    return Architecture(tuple(CLASS_NAMES), args.widths, args.depths, args.imgsz)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    arch = architecture_for(args)
    log(f"device: {'cuda' if torch.cuda.is_available() else 'cpu'}; {arch}")
    data = load_training_data(args, arch)
    trainer = Trainer(args, data, arch)
    params = sum(p.numel() for p in trainer.model.parameters()) / 1e6
    log(f"params {params:.2f}M; {len(data.train)} training images; budget {args.time_budget} min")
    trainer.run()
    if not args.no_export:
        # Imported here so that a long run picks up the finishing code as it is at its end.
        from tools.train.finalize import finalize

        finalize(args.out / "last.pt", data, args.export or args.out / "model.onnx")
    return 0
