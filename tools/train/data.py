"""Training data: YOLO datasets cached in memory at the training size, plus augmentation.

Images are decoded once and resized to ``image_size`` so that an epoch on two CPU cores is
spent in the network rather than in JPEG decoding. Class ids are remapped to the model's
classes at load time (the pothole set's ``0 = Pothole`` becomes D40), and every image
remembers its source dataset, whose label mask says which classes its labels cover.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from roadhazard.evaluation.dataset import LabelledImage

PAD_VALUE = 114
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass
class CachedImage:
    pixels: np.ndarray  # (H, W, 3) uint8 RGB, longest side == image_size
    boxes: np.ndarray  # (K, 5) float32: class, x1, y1, x2, y2 in cached pixels
    source: int = 0  # index of the dataset it came from

    @property
    def classes(self) -> frozenset[int]:
        return frozenset(int(c) for c in self.boxes[:, 0])


def _cache_one(
    image: LabelledImage, class_map: Mapping[int, int], image_size: int, source: int
) -> CachedImage:
    bgr = cv2.imread(str(image.path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode image {image.path}")
    height, width = bgr.shape[:2]
    rows = [
        [class_map[t.class_id], t.x1, t.y1, t.x2, t.y2]
        for t in image.ground_truths
        if t.class_id in class_map
    ]
    boxes = np.array(rows, np.float32).reshape(-1, 5)
    # Labels were read against the header's size; rescale in case the decoder disagrees.
    boxes[:, [1, 3]] *= width / image.width
    boxes[:, [2, 4]] *= height / image.height
    scale = image_size / max(height, width)
    resized = cv2.resize(
        bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
    )
    boxes[:, 1:] *= scale
    return CachedImage(cv2.cvtColor(resized, cv2.COLOR_BGR2RGB), boxes, source)


def load_images(
    images: Sequence[LabelledImage],
    class_map: Mapping[int, int],
    image_size: int,
    source: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[CachedImage]:
    """Decode and resize every image once; labels of unmapped classes are dropped."""
    cached: list[CachedImage] = []
    # OpenCV releases the GIL while decoding and resizing, so two threads use both cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for item in pool.map(lambda i: _cache_one(i, class_map, image_size, source), images):
            cached.append(item)
            if on_progress is not None:
                on_progress(len(cached), len(images))
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

    def __init__(
        self,
        items: list[CachedImage],
        image_size: int,
        rng: np.random.Generator,
        scale: tuple[float, float] = (0.5, 1.5),
        mosaic: float = 0.4,
    ):
        self.items = items
        self.size = image_size
        self.rng = rng
        # Objects are shown at `scale` times their letterboxed size, and at half that in a
        # 2x2 mosaic: together these set the object sizes the network learns, so the input
        # size it is exported at should match them (see the model card's size sweep).
        self.scale = scale
        self.mosaic = mosaic
        by_source: dict[int, list[int]] = {}
        for index, item in enumerate(items):
            by_source.setdefault(item.source, []).append(index)
        self.by_source = {k: np.array(v) for k, v in by_source.items()}

    def _affine(self, item: CachedImage) -> tuple[np.ndarray, np.ndarray]:
        image, boxes = letterbox_cached(item, self.size)
        scale = self.rng.uniform(*self.scale)
        shift = self.rng.uniform(-0.2, 0.2, 2) * self.size
        offset = (1 - scale) * self.size / 2 + shift
        matrix = np.array([[scale, 0, offset[0]], [0, scale, offset[1]]], np.float32)
        warped = cv2.warpAffine(image, matrix, (self.size, self.size), borderValue=(PAD_VALUE,) * 3)
        boxes = boxes.copy()
        boxes[:, [1, 3]] = boxes[:, [1, 3]] * scale + offset[0]
        boxes[:, [2, 4]] = boxes[:, [2, 4]] * scale + offset[1]
        return warped, _clip_boxes(boxes, self.size)

    def _mosaic(self, first: int) -> tuple[np.ndarray, np.ndarray]:
        # Tiles come from the first image's dataset, so the mosaic's labels stay complete
        # for exactly that dataset's classes and its label mask still holds.
        half = self.size // 2
        canvas = np.full((self.size, self.size, 3), PAD_VALUE, np.uint8)
        all_boxes = []
        siblings = self.by_source[self.items[first].source]
        picks = [first, *(int(i) for i in self.rng.choice(siblings, 3))]
        for quadrant, pick in enumerate(picks):
            item = self.items[pick]
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
        if self.rng.random() < self.mosaic:
            image, boxes = self._mosaic(index)
        else:
            image, boxes = self._affine(self.items[index])
        if self.rng.random() < 0.5:
            image = image[:, ::-1].copy()
            boxes = boxes.copy()
            boxes[:, [1, 3]] = self.size - boxes[:, [3, 1]]
        return self._photometric(image), boxes


@dataclass
class Batch:
    images: torch.Tensor  # (B, 3, S, S) float in 0..1
    boxes: torch.Tensor  # (B, M, 4) xyxy pixels, zero-padded
    classes: torch.Tensor  # (B, M) long, -1 for padding
    valid: torch.Tensor  # (B, M) bool
    label_mask: torch.Tensor  # (B, C) float: 1 where the image's dataset labels the class

    def to(self, device: torch.device) -> Batch:
        return Batch(*(t.to(device) for t in vars(self).values()))


def collate(samples: list[tuple[np.ndarray, np.ndarray]], masks: np.ndarray) -> Batch:
    images = torch.from_numpy(np.stack([s[0] for s in samples])).permute(0, 3, 1, 2)
    max_boxes = max(1, max(len(s[1]) for s in samples))
    gt_boxes = torch.zeros(len(samples), max_boxes, 4)
    gt_classes = torch.full((len(samples), max_boxes), -1, dtype=torch.long)
    for i, (_, boxes) in enumerate(samples):
        gt_boxes[i, : len(boxes)] = torch.from_numpy(boxes[:, 1:])
        gt_classes[i, : len(boxes)] = torch.from_numpy(boxes[:, 0]).long()
    return Batch(
        images.float() / 255.0, gt_boxes, gt_classes, gt_classes >= 0, torch.from_numpy(masks)
    )


def epoch_order(factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One epoch's image indices, as many as there are images, drawn in proportion to
    their repeat factors (with replacement, so a rare-class image may come twice)."""
    return rng.choice(len(factors), size=len(factors), p=factors / factors.sum())


def train_batches(
    augmenter: Augmenter,
    order: np.ndarray,
    source_masks: np.ndarray,
    batch_size: int,
) -> Iterator[Batch]:
    """Augmented batches in the given order (the last partial batch is dropped)."""
    for start in range(0, len(order) - batch_size + 1, batch_size):
        indices = [int(i) for i in order[start : start + batch_size]]
        sources = [augmenter.items[i].source for i in indices]
        yield collate([augmenter.sample(i) for i in indices], source_masks[sources])


def prefetched(batches: Iterator[Batch], depth: int = 2) -> Iterator[Batch]:
    """Builds the next batches in a background thread while the network trains on this one.

    Augmentation is NumPy and OpenCV, which release the GIL, so with one intra-op thread for
    the network the two cores stay busy, and a busy machine no longer stalls the network's
    thread barriers.
    """
    finished = object()
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for batch in batches:
                ready.put(batch)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            ready.put(exc)
        ready.put(finished)

    threading.Thread(target=produce, name="batch-prefetch", daemon=True).start()
    while (item := ready.get()) is not finished:
        if isinstance(item, Exception):
            raise item
        assert isinstance(item, Batch)
        yield item
