"""Training data: YOLO folders cached in memory at the training size, plus augmentation.

Images are decoded once and letterbox-resized to ``image_size`` so that an epoch on two
CPU cores is spent in the network rather than in JPEG decoding. Class ids are remapped
to the model's classes at load time (the pothole set's ``0 = Pothole`` becomes D40).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

PAD_VALUE = 114
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass
class CachedImage:
    pixels: np.ndarray  # (H, W, 3) uint8 RGB, longest side == image_size
    boxes: np.ndarray  # (K, 5) float32: class, x1, y1, x2, y2 in cached pixels


def find_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_yolo_labels(label_path: Path, width: int, height: int) -> np.ndarray:
    rows = []
    if label_path.exists():
        for line in label_path.read_text().splitlines():
            parts = line.split()
            if len(parts) != 5:
                continue  # polygon/segment labels are not used by this detector
            class_id, cx, cy, w, h = (float(v) for v in parts)
            rows.append(
                [
                    class_id,
                    (cx - w / 2) * width,
                    (cy - h / 2) * height,
                    (cx + w / 2) * width,
                    (cy + h / 2) * height,
                ]
            )
    return np.array(rows, np.float32).reshape(-1, 5)


def load_folder(
    image_dir: Path,
    class_map: Mapping[int, int],
    image_size: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[CachedImage]:
    label_dir = image_dir.parent.parent / "labels" / image_dir.name
    if not label_dir.exists():  # Roboflow layout: split/images + split/labels
        label_dir = image_dir.parent / "labels"
    images = find_images(image_dir)
    cached = []
    for index, path in enumerate(images):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode image {path}")
        height, width = bgr.shape[:2]
        boxes = read_yolo_labels(label_dir / f"{path.stem}.txt", width, height)
        boxes = boxes[np.isin(boxes[:, 0], list(class_map))]
        boxes[:, 0] = [class_map[int(c)] for c in boxes[:, 0]]
        scale = image_size / max(height, width)
        resized = cv2.resize(
            bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
        )
        boxes[:, 1:] *= scale
        cached.append(CachedImage(cv2.cvtColor(resized, cv2.COLOR_BGR2RGB), boxes))
        if on_progress is not None:
            on_progress(index + 1, len(images))
    return cached


def letterbox_cached(item: CachedImage, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Centre the cached image on a square canvas, as inference-time letterboxing does."""
    height, width = item.pixels.shape[:2]
    canvas = np.full((image_size, image_size, 3), PAD_VALUE, np.uint8)
    top, left = (image_size - height) // 2, (image_size - width) // 2
    canvas[top : top + height, left : left + width] = item.pixels
    boxes = item.boxes.copy()
    boxes[:, [1, 3]] += left
    boxes[:, [2, 4]] += top
    return canvas, boxes


def _clip_boxes(boxes: np.ndarray, image_size: int, min_keep: float = 0.3) -> np.ndarray:
    if len(boxes) == 0:
        return boxes
    area = (boxes[:, 3] - boxes[:, 1]) * (boxes[:, 4] - boxes[:, 2])
    clipped = boxes.copy()
    clipped[:, 1:] = np.clip(clipped[:, 1:], 0, image_size)
    new_w = clipped[:, 3] - clipped[:, 1]
    new_h = clipped[:, 4] - clipped[:, 2]
    keep = (new_w > 2) & (new_h > 2) & (new_w * new_h > min_keep * np.maximum(area, 1e-6))
    return clipped[keep]


class Augmenter:
    """Geometric (mosaic, scale/translate, flip) and photometric (colour, blur, night)."""

    def __init__(self, items: list[CachedImage], image_size: int, rng: np.random.Generator):
        self.items = items
        self.size = image_size
        self.rng = rng

    def _affine(self, item: CachedImage) -> tuple[np.ndarray, np.ndarray]:
        image, boxes = letterbox_cached(item, self.size)
        scale = self.rng.uniform(0.5, 1.5)
        shift = self.rng.uniform(-0.2, 0.2, 2) * self.size
        offset = (1 - scale) * self.size / 2 + shift
        matrix = np.array([[scale, 0, offset[0]], [0, scale, offset[1]]], np.float32)
        warped = cv2.warpAffine(image, matrix, (self.size, self.size), borderValue=(PAD_VALUE,) * 3)
        boxes = boxes.copy()
        boxes[:, [1, 3]] = boxes[:, [1, 3]] * scale + offset[0]
        boxes[:, [2, 4]] = boxes[:, [2, 4]] * scale + offset[1]
        return warped, _clip_boxes(boxes, self.size)

    def _mosaic(self) -> tuple[np.ndarray, np.ndarray]:
        half = self.size // 2
        canvas = np.full((self.size, self.size, 3), PAD_VALUE, np.uint8)
        all_boxes = []
        for quadrant in range(4):
            item = self.items[int(self.rng.integers(len(self.items)))]
            tile, boxes = letterbox_cached(item, self.size)
            tile = cv2.resize(tile, (half, half), interpolation=cv2.INTER_AREA)
            x0, y0 = (quadrant % 2) * half, (quadrant // 2) * half
            canvas[y0 : y0 + half, x0 : x0 + half] = tile
            boxes = boxes.copy()
            boxes[:, 1:] *= 0.5
            boxes[:, [1, 3]] += x0
            boxes[:, [2, 4]] += y0
            all_boxes.append(boxes)
        return canvas, np.concatenate(all_boxes)

    def _photometric(self, image: np.ndarray) -> np.ndarray:
        pixels = image.astype(np.float32)
        grey = pixels.mean(axis=2, keepdims=True)
        pixels = grey + (pixels - grey) * self.rng.uniform(0.5, 1.5)
        pixels = (pixels - 128) * self.rng.uniform(0.7, 1.3) + 128 + self.rng.uniform(-30, 30)
        pixels *= 1 + self.rng.normal(0, 0.04, 3)
        if self.rng.random() < 0.15:
            # Night-like: dark, gamma-crushed, bluish, noisy, with a headlight pool.
            pixels = 255 * (np.clip(pixels, 0, 255) / 255) ** self.rng.uniform(1.3, 2.2)
            pixels *= self.rng.uniform(0.25, 0.55)
            rows = np.linspace(0, 1, self.size, dtype=np.float32)[:, None, None]
            pixels *= 0.6 + 0.8 * rows**2
            pixels *= np.array([0.9, 0.95, 1.15], np.float32)
            pixels += self.rng.normal(0, 4, pixels.shape).astype(np.float32)
        out = np.clip(pixels, 0, 255).astype(np.uint8)
        if self.rng.random() < 0.15:
            out = cv2.GaussianBlur(out, (0, 0), self.rng.uniform(0.6, 1.8))
        return out

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self.rng.random() < 0.4:
            image, boxes = self._mosaic()
        else:
            image, boxes = self._affine(self.items[index])
        if self.rng.random() < 0.5:
            image = image[:, ::-1].copy()
            boxes = boxes.copy()
            boxes[:, [1, 3]] = self.size - boxes[:, [3, 1]]
        return self._photometric(image), boxes


def collate(samples: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, ...]:
    images = torch.from_numpy(np.stack([s[0] for s in samples])).permute(0, 3, 1, 2)
    max_boxes = max(1, max(len(s[1]) for s in samples))
    gt_boxes = torch.zeros(len(samples), max_boxes, 4)
    gt_classes = torch.full((len(samples), max_boxes), -1, dtype=torch.long)
    for i, (_, boxes) in enumerate(samples):
        gt_boxes[i, : len(boxes)] = torch.from_numpy(boxes[:, 1:])
        gt_classes[i, : len(boxes)] = torch.from_numpy(boxes[:, 0]).long()
    return images.float() / 255.0, gt_boxes, gt_classes, gt_classes >= 0


def train_batches(
    augmenter: Augmenter, batch_size: int, rng: np.random.Generator
) -> Iterator[tuple[torch.Tensor, ...]]:
    """One epoch of shuffled, augmented batches (the last partial batch is dropped)."""
    order = rng.permutation(len(augmenter.items))
    for start in range(0, len(order) - batch_size + 1, batch_size):
        yield collate([augmenter.sample(int(i)) for i in order[start : start + batch_size]])
