"""Loading the training and validation splits, and scoring the model on the latter.

Validation decodes the model's raw output with the service's own decoder, so it scores
what the service would detect. Each validation split is scored only on the classes its
dataset labels: a crack found in a pothole photo is neither right nor wrong there.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from roadhazard.detection.layouts import Layout
from roadhazard.detection.postprocess import Thresholds, decode
from roadhazard.evaluation.dataset import YoloDataset, read_yolo_dataset
from roadhazard.evaluation.metrics import GroundTruth, MetricsAccumulator, Prediction
from tools.synth.dataset import write_dataset
from tools.train.checkpoint import Architecture
from tools.train.data import CachedImage, letterbox_cached, load_images
from tools.train.model import Detector, ExportWrapper
from tools.train.progress import log
from tools.train.sources import DatasetSpec, SourceDataset, source_for

# Ultralytics' validation settings: a low threshold keeps the precision-recall curve complete.
VALIDATION_THRESHOLDS = Thresholds(conf=0.001, iou=0.7, max_det=300)


@dataclass(frozen=True)
class ValidationSplit:
    name: str
    source: SourceDataset
    items: list[CachedImage]


@dataclass(frozen=True)
class TrainingData:
    sources: list[SourceDataset]
    train: list[CachedImage]
    val: list[ValidationSplit]


def _cache(dataset: YoloDataset, source: SourceDataset, index: int, size: int) -> list[CachedImage]:
    started = time.monotonic()
    label = f"{source.name} {dataset.split}"

    def progress(done: int, total: int) -> None:
        if done == total or done % 250 == 0:
            log(f"  caching {label}: {done}/{total}")

    items = load_images(dataset.images, source.class_map, size, index, progress)
    log(f"  {label}: {len(items)} images in {time.monotonic() - started:.0f}s")
    return items


def synthetic_spec(args: argparse.Namespace) -> DatasetSpec:
    if not (args.synth / "data.yaml").exists():
        log(f"generating {args.synth_count} synthetic scenes into {args.synth}")
        write_dataset(
            args.synth,
            args.synth_count,
            args.synth_seed,
            0.1,
            lambda d, t: log(f"  synth {d}/{t}") if d % 200 == 0 or d == t else None,
        )
    return DatasetSpec.parse(f"{args.synth}*{args.synth_weight}")


def load_training_data(
    args: argparse.Namespace, arch: Architecture, *, with_train: bool = True
) -> TrainingData:
    """Every dataset's sources and validation split; its training images only when
    ``with_train`` (scoring or exporting a finished run needs no training images)."""
    specs: list[tuple[DatasetSpec, bool]] = [(spec, False) for spec in args.data]
    if not args.no_synth:
        specs.append((synthetic_spec(args), True))
    sources: list[SourceDataset] = []
    train: list[CachedImage] = []
    val: list[ValidationSplit] = []
    for index, (spec, synthetic) in enumerate(specs):
        train_split = read_yolo_dataset(spec.location, "train")
        source = source_for(spec, train_split.class_names, arch.names)
        source = dataclasses.replace(source, synthetic=synthetic)
        log(f"{source.name}: classes {source.class_map} -> labels {sorted(source.labelled)}")
        sources.append(source)
        if with_train:
            train += _cache(train_split, source, index, arch.imgsz)
        val_split = read_yolo_dataset(spec.location, "val")
        val.append(
            ValidationSplit(source.name, source, _cache(val_split, source, index, arch.imgsz))
        )
    return TrainingData(sources, train, val)


@torch.no_grad()
def predictions(
    model: Detector, split: ValidationSplit, image_size: int, device: torch.device
) -> Iterator[tuple[list[Prediction], list[GroundTruth]]]:
    """Each image's decoded predictions (labelled classes only) and its ground truth."""
    wrapper = ExportWrapper(model, image_size).to(device).eval()
    labelled = split.source.labelled
    for start in range(0, len(split.items), 16):
        chunk = [letterbox_cached(item, image_size) for item in split.items[start : start + 16]]
        batch = torch.from_numpy(np.stack([c[0] for c in chunk])).permute(0, 3, 1, 2)
        outputs = wrapper(batch.to(device).float() / 255.0).cpu().numpy()
        for output, (_, boxes) in zip(outputs, chunk, strict=True):
            found = decode(output[None], Layout.RAW, VALIDATION_THRESHOLDS)
            preds = [
                Prediction(int(class_id), float(score), *map(float, box))
                for box, score, class_id in zip(
                    found.boxes, found.scores, found.class_ids, strict=True
                )
                if int(class_id) in labelled
            ]
            yield preds, [GroundTruth(int(b[0]), *map(float, b[1:])) for b in boxes]


def accumulate(
    model: Detector, split: ValidationSplit, image_size: int, conf: float = 0.25
) -> MetricsAccumulator:
    device = next(model.parameters()).device
    accumulator = MetricsAccumulator(conf_threshold=conf)
    for preds, truths in predictions(model, split, image_size, device):
        accumulator.add(preds, truths)
    return accumulator


def validate_all(
    model: Detector, data: TrainingData, arch: Architecture
) -> dict[str, dict[str, float]]:
    """P, R, F1 at confidence 0.25 and mAP50 per validation split."""
    results = {}
    for split in data.val:
        summary = accumulate(model, split, arch.imgsz).summary()
        results[split.name] = {
            "P": summary.precision,
            "R": summary.recall,
            "F1": summary.f1,
            "mAP50": summary.map50,
        }
    return results


def add_data_arguments(parser: argparse.ArgumentParser, default_data: tuple[str, ...]) -> None:
    """The datasets of a finished run, for the tools that score or finish a checkpoint."""
    parser.add_argument("--data", action="append", type=DatasetSpec.parse, help="a dataset")
    parser.add_argument("--synth", type=Path, default=Path("runs/synth"))
    parser.set_defaults(default_data=default_data)


def load_validation_data(args: argparse.Namespace, arch: Architecture) -> TrainingData:
    options = argparse.Namespace(
        data=args.data or [DatasetSpec.parse(text) for text in args.default_data],
        synth=args.synth,
        no_synth=not (args.synth / "data.yaml").exists(),
        synth_weight=1.0,
        synth_count=0,
        synth_seed=0,
    )
    return load_training_data(options, arch, with_train=False)


def resized(split: ValidationSplit, size: int) -> ValidationSplit:
    """The split's cached images (cached at the training size) scaled to ``size``."""
    items = []
    for item in split.items:
        height, width = item.pixels.shape[:2]
        scale = size / max(height, width)
        pixels = cv2.resize(
            item.pixels, (round(width * scale), round(height * scale)), cv2.INTER_AREA
        )
        boxes = item.boxes.copy()
        boxes[:, 1:] *= scale
        items.append(CachedImage(pixels, boxes, item.source))
    return ValidationSplit(split.name, split.source, items)
