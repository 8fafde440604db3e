"""Read a YOLO-format detection dataset into pixel-space ground truth.

Accepted layouts, for a split such as ``val``:

* a ``data.yaml`` (file or inside the folder) whose ``val`` entry names an image folder,
  a list of folders, or a ``.txt`` list of images, relative to its ``path`` entry;
* ``images/<split>`` + ``labels/<split>`` (Ultralytics);
* ``<split>/images`` + ``<split>/labels`` (Roboflow, where ``val`` is spelled ``valid``).

Labels are ``class cx cy w h`` normalized to the image; they come back as pixel xyxy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from roadhazard.evaluation.metrics import GroundTruth

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
_SPLIT_ALIASES = {"val": ("val", "valid", "validation"), "valid": ("valid", "val")}


class DatasetError(ValueError):
    """The dataset folder or one of its label files cannot be read."""


@dataclass(frozen=True, slots=True)
class LabelledImage:
    path: Path
    width: int
    height: int
    ground_truths: tuple[GroundTruth, ...]


@dataclass(frozen=True, slots=True)
class YoloDataset:
    root: Path
    split: str
    class_names: tuple[str, ...] | None
    images: tuple[LabelledImage, ...]


def label_path_for(image_path: Path) -> Path:
    """``.../images/x.jpg`` -> ``.../labels/x.txt`` (the last ``images`` component)."""
    parts = list(image_path.parts)
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "images":
            parts[index] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image_path.with_suffix(".txt")


def parse_label_file(path: Path, width: int, height: int) -> tuple[GroundTruth, ...]:
    if not path.exists():
        return ()  # an image without a label file is a background image
    boxes = []
    for line_no, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise DatasetError(f"{path}:{line_no}: expected 'class cx cy w h', got {line!r}")
        try:
            class_id = int(fields[0])
            cx, cy, w, h = (float(value) for value in fields[1:])
        except ValueError:
            raise DatasetError(f"{path}:{line_no}: not numeric: {line!r}") from None
        boxes.append(
            GroundTruth(
                class_id=class_id,
                x1=(cx - w / 2) * width,
                y1=(cy - h / 2) * height,
                x2=(cx + w / 2) * width,
                y2=(cy + h / 2) * height,
            )
        )
    return tuple(boxes)


def _names_from_yaml(raw: Any) -> tuple[str, ...] | None:
    if isinstance(raw, Mapping):
        return tuple(str(raw[key]) for key in sorted(raw, key=int))
    if isinstance(raw, list):
        return tuple(str(name) for name in raw)
    return None


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _images_from_yaml(data_yaml: Path, split: str) -> tuple[list[Path], tuple[str, ...] | None]:
    document = yaml.safe_load(data_yaml.read_text("utf-8")) or {}
    if not isinstance(document, Mapping):
        raise DatasetError(f"{data_yaml}: not a mapping")
    root = data_yaml.parent / str(document.get("path") or ".")
    entry = next(
        (document[key] for key in _SPLIT_ALIASES.get(split, (split,)) if key in document), None
    )
    if entry is None:
        raise DatasetError(f"{data_yaml}: no {split!r} entry")
    images: list[Path] = []
    for item in entry if isinstance(entry, list) else [entry]:
        location = root / str(item)
        if location.is_dir():
            images.extend(_images_in(location))
        elif location.suffix == ".txt" and location.is_file():
            lines = location.read_text("utf-8").split()
            images.extend(location.parent / line for line in lines)
        else:
            raise DatasetError(f"{data_yaml}: {split} location {location} does not exist")
    return images, _names_from_yaml(document.get("names"))


def _images_from_layout(root: Path, split: str) -> list[Path]:
    for name in _SPLIT_ALIASES.get(split, (split,)):
        for folder in (root / "images" / name, root / name / "images"):
            if folder.is_dir():
                return _images_in(folder)
    if (root / "images").is_dir():
        return _images_in(root / "images")
    raise DatasetError(f"{root}: no images/{split}, {split}/images or images/ folder")


def read_yolo_dataset(location: Path, split: str = "val") -> YoloDataset:
    """Read the ``split`` of a dataset given as a folder or as its ``data.yaml``."""
    data_yaml = location if location.is_file() else location / "data.yaml"
    root = location.parent if location.is_file() else location
    names: tuple[str, ...] | None = None
    if data_yaml.is_file():
        image_paths, names = _images_from_yaml(data_yaml, split)
    elif root.is_dir():
        image_paths = _images_from_layout(root, split)
    else:
        raise DatasetError(f"{location} is neither a dataset folder nor a data.yaml")
    images = []
    for image_path in image_paths:
        with Image.open(image_path) as image:
            width, height = image.size
        truths = parse_label_file(label_path_for(image_path), width, height)
        images.append(LabelledImage(image_path, width, height, truths))
    return YoloDataset(root=root, split=split, class_names=names, images=tuple(images))
