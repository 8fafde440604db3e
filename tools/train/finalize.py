"""Finish a run: pick per-class thresholds on the validation splits, export, report.

The thresholds follow the RDD challenge: for each class, the confidence that maximises F1
at IoU 0.5. A class is tuned on the real photo sets that label it; the synthetic scenes
tune only the classes that no photo set labels (manhole covers).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from roadhazard.evaluation.metrics import MetricsAccumulator
from roadhazard.evaluation.thresholds import ThresholdChoice, best_f1_thresholds
from tools.train.checkpoint import trained_detector
from tools.train.export import export_onnx
from tools.train.model import Detector
from tools.train.progress import log
from tools.train.validation import (
    TrainingData,
    ValidationSplit,
    add_data_arguments,
    load_validation_data,
    predictions,
    resized,
)


def tuning_classes(split: ValidationSplit, splits: list[ValidationSplit]) -> set[int]:
    """The classes whose threshold this split helps choose."""
    if not split.source.synthetic:
        return set(split.source.labelled)
    real = {c for s in splits if not s.source.synthetic for c in s.source.labelled}
    return set(split.source.labelled) - real


def choose_thresholds(
    detector: Detector, data: TrainingData, image_size: int
) -> dict[int, ThresholdChoice]:
    pooled = MetricsAccumulator()
    for split in data.val:
        keep = tuning_classes(split, data.val)
        scaled = resized(split, image_size)
        for preds, truths in predictions(detector, scaled, image_size, detector_device(detector)):
            pooled.add(
                [p for p in preds if p.class_id in keep], [t for t in truths if t.class_id in keep]
            )
    return best_f1_thresholds(pooled)


def detector_device(detector: torch.nn.Module) -> torch.device:
    return next(detector.parameters()).device


def finalize(
    checkpoint: Path, data: TrainingData, export_path: Path, image_size: int | None = None
) -> None:
    """``image_size`` exports (and tunes the thresholds) at another input size than the
    training size: the network is fully convolutional, and ``tools.train.sweep sizes``
    shows which size scores best."""
    detector, arch = trained_detector(checkpoint)
    size = image_size or arch.imgsz
    choices = choose_thresholds(detector, data, size)
    for class_id, choice in sorted(choices.items()):
        log(
            f"  {arch.names[class_id]}: conf {choice.conf:.3f} "
            f"P {choice.precision:.3f} R {choice.recall:.3f} F1 {choice.f1:.3f}"
        )
    class_conf = {class_id: choice.conf for class_id, choice in choices.items()}
    check = export_onnx(detector, arch.names, size, export_path, class_conf)
    size_mb = export_path.stat().st_size / 1e6
    log(f"exported {export_path} ({size_mb:.1f} MB); onnxruntime vs torch: {check}")


def main(argv: list[str] | None = None) -> int:
    from tools.train.train import DEFAULT_DATA

    parser = argparse.ArgumentParser(description="Choose thresholds and export a checkpoint.")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--export", type=Path, required=True, help="the ONNX file to write")
    parser.add_argument("--imgsz", type=int, default=None, help="export size (default: trained)")
    add_data_arguments(parser, DEFAULT_DATA)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    _, arch = trained_detector(args.checkpoint)
    finalize(args.checkpoint, load_validation_data(args, arch), args.export, args.imgsz)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
