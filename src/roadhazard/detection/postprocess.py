"""Vectorized decoding of the three Ultralytics layouts, class-aware NMS and box un-mapping.

The thresholds and tie-breaking follow Ultralytics' `non_max_suppression`, so a model gives the
same boxes here as under `model.predict()`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import numpy.typing as npt

from roadhazard.detection.layouts import Layout
from roadhazard.detection.preprocess import Letterbox

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# Offsetting boxes by class * MAX_WH keeps classes apart in one NMS pass (Ultralytics' value).
MAX_WH = 7680.0
# Ultralytics keeps at most this many candidates, by score, before NMS.
MAX_NMS_CANDIDATES = 30_000


@dataclass(frozen=True)
class Thresholds:
    """What decoding keeps. With ``class_conf`` (one threshold per class id, a model's own
    defaults), ``conf`` is their minimum: the cheap first filter over every anchor."""

    conf: float
    iou: float
    max_det: int
    classes: frozenset[int] | None = None
    class_conf: tuple[float, ...] | None = None

    @classmethod
    def per_class(cls, class_conf: Collection[float], iou: float, max_det: int) -> Thresholds:
        values = tuple(class_conf)
        return cls(conf=min(values), iou=iou, max_det=max_det, class_conf=values)

    def overridden(
        self,
        *,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
        classes: Collection[int] | None = None,
    ) -> Thresholds:
        """These thresholds with a caller's choices; an explicit ``conf`` replaces the
        per-class ones too, since the caller asked for one threshold for every class."""
        if conf is None and iou is None and max_det is None and classes is None:
            return self  # the common request: keeps the per-class array already built
        merged = self if conf is None else replace(self, conf=conf, class_conf=None)
        return replace(
            merged,
            iou=merged.iou if iou is None else iou,
            max_det=merged.max_det if max_det is None else max_det,
            classes=merged.classes if classes is None else frozenset(classes),
        )

    @cached_property
    def class_conf_array(self) -> FloatArray | None:
        # float32, as the scores are, so a score equal to its threshold compares as the scalar
        # `conf` comparison does; built once per Thresholds, not once per image.
        if self.class_conf is None:
            return None
        return np.asarray(self.class_conf, dtype=np.float32)


@dataclass(frozen=True)
class Candidates:
    """Detections as parallel arrays: xyxy boxes, scores and class ids."""

    boxes: FloatArray
    scores: FloatArray
    class_ids: IntArray

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Candidates:
        return Candidates(self.boxes[index], self.scores[index], self.class_ids[index])


def decode(output: npt.NDArray[np.generic], layout: Layout, thresholds: Thresholds) -> Candidates:
    """Model output of one image (batch dim included) to final detections on the model canvas."""
    prediction = np.asarray(output, dtype=np.float32)[0]
    if layout is Layout.END2END:
        found = _decode_end2end(prediction, thresholds.conf)
        found = _keep_classes(_keep_confident(found, thresholds), thresholds.classes)
        return found.take(np.arange(min(len(found), thresholds.max_det)))
    if layout is Layout.RAW:
        found = _decode_raw(prediction, thresholds.conf)
    else:
        found = _decode_yolov5(prediction, thresholds.conf)
    found = _keep_classes(_keep_confident(found, thresholds), thresholds.classes)
    return class_aware_nms(found, thresholds.iou, thresholds.max_det)


def _decode_raw(prediction: FloatArray, conf: float) -> Candidates:
    rows = prediction.T  # (N, 4+nc)
    class_scores = rows[:, 4:]
    scores = class_scores.max(axis=1)
    keep = scores > conf
    rows, class_scores, scores = rows[keep], class_scores[keep], scores[keep]
    return Candidates(_xywh_to_xyxy(rows[:, :4]), scores, class_scores.argmax(axis=1))


def _decode_yolov5(prediction: FloatArray, conf: float) -> Candidates:
    rows = prediction[prediction[:, 4] > conf]  # objectness first, as YOLOv5 does
    class_scores = rows[:, 5:] * rows[:, 4:5]
    class_ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(rows)), class_ids]
    keep = scores > conf
    return Candidates(_xywh_to_xyxy(rows[keep, :4]), scores[keep], class_ids[keep])


def _decode_end2end(prediction: FloatArray, conf: float) -> Candidates:
    rows = prediction[prediction[:, 4] > conf]
    return Candidates(
        np.ascontiguousarray(rows[:, :4]), rows[:, 4].copy(), rows[:, 5].astype(np.int64)
    )


def _keep_confident(found: Candidates, thresholds: Thresholds) -> Candidates:
    """Applies per-class thresholds to the few candidates that passed their minimum."""
    limits = thresholds.class_conf_array
    if limits is None or len(found) == 0:
        return found
    # An end-to-end model's class ids come from its output; clipping keeps a stray id from
    # indexing past the table (it gets the last class's threshold) instead of crashing.
    return found.take(found.scores > limits.take(found.class_ids, mode="clip"))


def _keep_classes(found: Candidates, classes: Collection[int] | None) -> Candidates:
    if classes is None:
        return found
    return found.take(np.isin(found.class_ids, np.fromiter(classes, dtype=np.int64)))


def _xywh_to_xyxy(xywh: FloatArray) -> FloatArray:
    half = xywh[:, 2:4] / 2
    return np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)


def class_aware_nms(found: Candidates, iou_threshold: float, max_det: int) -> Candidates:
    """Greedy NMS that never suppresses across classes; each step is one vectorized IoU row."""
    if len(found) == 0:
        return found
    order = np.argsort(-found.scores, kind="stable")[:MAX_NMS_CANDIDATES]
    found = found.take(order)
    shifted = found.boxes + (found.class_ids.astype(np.float32) * MAX_WH)[:, None]
    areas = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
    alive = np.ones(len(found), dtype=bool)
    kept: list[int] = []
    for i in range(len(found)):
        if not alive[i]:
            continue
        kept.append(i)
        if len(kept) == max_det:
            break
        rest = np.flatnonzero(alive[i + 1 :]) + i + 1
        if rest.size == 0:
            break
        overlaps = _iou_one_to_many(shifted[i], areas[i], shifted[rest], areas[rest])
        alive[rest[overlaps > iou_threshold]] = False
    return found.take(np.asarray(kept, dtype=np.intp))


def _iou_one_to_many(
    box: FloatArray, area: np.float32, boxes: FloatArray, areas: FloatArray
) -> FloatArray:
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    overlap = np.clip(bottom_right - top_left, 0, None).prod(axis=1)
    iou: FloatArray = overlap / (area + areas - overlap)
    return iou


def to_original_pixels(found: Candidates, placement: Letterbox) -> Candidates:
    """Undoes the letterbox and clips boxes to the original image."""
    boxes = found.boxes.copy()
    boxes[:, [0, 2]] -= placement.pad_left
    boxes[:, [1, 3]] -= placement.pad_top
    boxes /= placement.gain
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, placement.width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, placement.height)
    return Candidates(boxes, found.scores, found.class_ids)
