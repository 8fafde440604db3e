"""Write rendered scenes as a standard YOLO dataset folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.synth.scene import CLASS_NAMES, render_scene


@dataclass(frozen=True)
class DatasetSummary:
    images: int
    boxes: int


def split_of(index: int, count: int, val_fraction: float) -> str:
    """The last ``val_fraction`` of indices go to val, so train/val never share a scene."""
    n_val = round(count * val_fraction)
    return "val" if index >= count - n_val else "train"


def write_dataset(
    out: Path,
    count: int,
    seed: int,
    val_fraction: float = 0.1,
    on_progress: Callable[[int, int], None] | None = None,
) -> DatasetSummary:
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    total_boxes = 0
    for index in range(count):
        split = split_of(index, count, val_fraction)
        sample = render_scene(seed, index)
        stem = f"synth_{seed}_{index:06d}"
        (out / "images" / split / f"{stem}.jpg").write_bytes(sample.jpeg)
        lines = sample.yolo_lines()
        (out / "labels" / split / f"{stem}.txt").write_text("".join(f"{x}\n" for x in lines))
        total_boxes += len(lines)
        if on_progress is not None:
            on_progress(index + 1, count)
    data = {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": "images/val",
        "nc": len(CLASS_NAMES),
        "names": dict(enumerate(CLASS_NAMES)),
    }
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return DatasetSummary(images=count, boxes=total_boxes)
