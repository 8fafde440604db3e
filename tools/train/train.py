"""Training loop: real pothole photos (as D40) + synthetic scenes for all five classes.

The learning-rate schedule runs on *progress*, the larger of (steps done / planned steps)
and (time used / time budget), so a run always anneals fully and ends on time whatever
the machine's speed.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from roadhazard.detection.layouts import Layout
from roadhazard.detection.postprocess import Thresholds, decode
from roadhazard.evaluation.metrics import GroundTruth, MetricsAccumulator, Prediction
from tools.synth.dataset import write_dataset
from tools.synth.scene import CLASS_NAMES
from tools.train.data import Augmenter, CachedImage, letterbox_cached, load_folder, train_batches
from tools.train.export import export_onnx
from tools.train.loss import detection_loss
from tools.train.model import Detector, ExportWrapper, make_anchors

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REAL = REPO_ROOT.parent / "shared" / "datasets" / "potholes"
POTHOLE_CLASS = CLASS_NAMES.index("D40")
WIDTHS = (16, 24, 48, 96, 160)
# Ultralytics' validation settings: a low threshold keeps the precision-recall curve complete.
VALIDATION_THRESHOLDS = Thresholds(conf=0.001, iou=0.7, max_det=300)


class EMA:
    """Exponential moving average of weights; its ramp keeps early averages from lagging."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.999, ramp: float = 500.0):
        self.model = copy.deepcopy(model).eval()
        self.decay, self.ramp, self.updates = decay, ramp, 0
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = self.decay * (1 - math.exp(-self.updates / self.ramp))
        source = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(source[name].detach(), alpha=1 - decay)
            else:
                value.copy_(source[name])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cache(folder: Path, class_map: dict[int, int], size: int, label: str) -> list[CachedImage]:
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        if done == total or done % 200 == 0:
            log(f"  caching {label}: {done}/{total}")

    items = load_folder(folder, class_map, size, progress)
    log(f"  {label}: {len(items)} images in {time.monotonic() - started:.0f}s")
    return items


@torch.no_grad()
def validate(
    model: Detector, items: list[CachedImage], size: int, device: torch.device
) -> dict[str, float]:
    wrapper = ExportWrapper(model, size).to(device).eval()
    accumulator = MetricsAccumulator(conf_threshold=0.25)
    for start in range(0, len(items), 16):
        chunk = [letterbox_cached(item, size) for item in items[start : start + 16]]
        batch = torch.from_numpy(np.stack([c[0] for c in chunk])).permute(0, 3, 1, 2)
        outputs = wrapper(batch.to(device).float() / 255.0).cpu().numpy()
        for output, (_, boxes) in zip(outputs, chunk, strict=True):
            # The service's own decoder, so validation scores what the service would detect.
            found = decode(output[None], Layout.RAW, VALIDATION_THRESHOLDS)
            predictions = [
                Prediction(int(class_id), float(score), *map(float, box))
                for box, score, class_id in zip(
                    found.boxes, found.scores, found.class_ids, strict=True
                )
            ]
            truths = [GroundTruth(int(b[0]), *map(float, b[1:])) for b in boxes]
            accumulator.add(predictions, truths)
    summary = accumulator.summary()
    return {
        "P": summary.precision,
        "R": summary.recall,
        "mAP50": summary.map50,
        "mAP50-95": summary.map50_95,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the Roadhazard demo detector.")
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="pothole YOLO dataset")
    parser.add_argument(
        "--synth",
        type=Path,
        default=Path("runs/synth"),
        help="synthetic dataset; generated here first if it has no data.yaml",
    )
    parser.add_argument("--synth-count", type=int, default=1800)
    parser.add_argument("--synth-seed", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("runs/train"))
    parser.add_argument(
        "--export", type=Path, default=None, help="ONNX path (default OUT/model.onnx)"
    )
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--time-budget", type=float, default=50.0, help="minutes of training")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log(f"device: {device}")

    if not (args.synth / "data.yaml").exists():
        log(f"generating {args.synth_count} synthetic scenes into {args.synth}")
        write_dataset(
            args.synth,
            args.synth_count,
            args.synth_seed,
            0.1,
            lambda d, t: log(f"  synth {d}/{t}") if d % 200 == 0 or d == t else None,
        )
    all_classes = {i: i for i in range(len(CLASS_NAMES))}
    pothole_map = {0: POTHOLE_CLASS}
    train_items = cache(args.real / "train" / "images", pothole_map, args.imgsz, "real train")
    train_items += cache(args.synth / "images" / "train", all_classes, args.imgsz, "synth train")
    real_val = cache(args.real / "valid" / "images", pothole_map, args.imgsz, "real val")
    synth_val = cache(args.synth / "images" / "val", all_classes, args.imgsz, "synth val")

    model = Detector(len(CLASS_NAMES), WIDTHS).to(device)
    ema = EMA(model)
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (decay if parameter.ndim > 1 and "bn" not in name else no_decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.999),
    )
    centres, strides = make_anchors(args.imgsz, device)
    augmenter = Augmenter(train_items, args.imgsz, rng)
    steps_per_epoch = len(train_items) // args.batch
    planned_steps = steps_per_epoch * args.epochs
    budget_s = args.time_budget * 60
    log(
        f"params: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M, "
        f"{steps_per_epoch} steps/epoch, up to {args.epochs} epochs or {args.time_budget} min"
    )

    started = time.monotonic()
    step, progress, epoch = 0, 0.0, 0
    args.out.mkdir(parents=True, exist_ok=True)
    while progress < 1.0 and epoch < args.epochs:
        epoch += 1
        model.train()
        box_sum = cls_sum = 0.0
        seen = 0
        epoch_start = time.monotonic()
        for images, gt_boxes, gt_classes, gt_valid in train_batches(augmenter, args.batch, rng):
            progress = max(step / planned_steps, (time.monotonic() - started) / budget_s)
            if progress >= 1.0:
                break
            warmup = min(1.0, (step + 1) / 300)
            lr = args.lr * warmup * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))
            for group in optimizer.param_groups:
                group["lr"] = lr
            distances, logits = model(images.to(device))
            parts = detection_loss(
                distances,
                logits,
                centres,
                strides,
                gt_boxes.to(device),
                gt_classes.to(device),
                gt_valid.to(device),
            )
            optimizer.zero_grad(set_to_none=True)
            parts.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            ema.update(model)
            step += 1
            seen += 1
            box_sum += parts.box
            cls_sum += parts.cls
            if step % 20 == 0:
                elapsed = time.monotonic() - started
                rate = seen * args.batch / (time.monotonic() - epoch_start)
                eta = min(budget_s - elapsed, (planned_steps - step) * args.batch / rate)
                log(
                    f"epoch {epoch} step {step} box {box_sum / seen:.3f} cls {cls_sum / seen:.3f}"
                    f" lr {lr:.2e} {rate:.1f} img/s ETA {eta / 60:.1f} min"
                )
        real = validate(ema.model, real_val, args.imgsz, device)
        synth = validate(ema.model, synth_val, args.imgsz, device)
        log(
            f"epoch {epoch} done in {(time.monotonic() - epoch_start) / 60:.1f} min | "
            f"loss box {box_sum / max(seen, 1):.3f} cls {cls_sum / max(seen, 1):.3f} | "
            f"real D40 val {fmt(real)} | synth val {fmt(synth)}"
        )
        # Re-check after validation so no empty epoch starts once the budget is spent.
        progress = max(step / planned_steps, (time.monotonic() - started) / budget_s)
        torch.save(
            {
                "model": ema.model.state_dict(),
                "widths": WIDTHS,
                "names": CLASS_NAMES,
                "imgsz": args.imgsz,
                "epoch": epoch,
            },
            args.out / "last.pt",
        )

    export_path = args.export or args.out / "model.onnx"
    worst = export_onnx(ema.model.cpu().eval(), CLASS_NAMES, args.imgsz, export_path)
    log(
        f"exported {export_path} ({export_path.stat().st_size / 1e6:.1f} MB); "
        f"max |onnxruntime - torch| = {worst:.2e}"
    )
    return 0


def fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3f}" for k, v in metrics.items())
