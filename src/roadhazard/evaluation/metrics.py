"""Detection metrics in pure NumPy: precision, recall, F1, mAP50 and mAP50-95.

Matching is COCO-style greedy: within one image and class, predictions are taken in order
of falling confidence and each claims the unclaimed ground-truth box with the highest IoU,
if that IoU is at least the threshold. AP is the all-point interpolated area under the
precision envelope (VOC 2010+ style; Ultralytics' default 101-point sampling gives values
within about 0.01 of it). mAP averages AP over the classes that have ground truth.

Precision/recall/F1 count the predictions at or above ``conf_threshold`` (or a class's own
threshold from ``class_conf``) at IoU 0.5, per class and micro-averaged over all classes for
the overall row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IOU_THRESHOLDS: FloatArray = np.linspace(0.5, 0.95, 10)


@dataclass(frozen=True, slots=True)
class Prediction:
    """One detection in original-image pixels."""

    class_id: int
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True, slots=True)
class GroundTruth:
    class_id: int
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    class_id: int
    ground_truths: int
    predictions: int
    true_positives: int
    precision: float
    recall: float
    f1: float
    ap50: float | None
    ap50_95: float | None
    conf_threshold: float = 0.25
    """The threshold P/R/F1 counted this class's predictions at."""


@dataclass(frozen=True, slots=True)
class MetricsSummary:
    per_class: tuple[ClassMetrics, ...]
    precision: float
    recall: float
    f1: float
    map50: float
    map50_95: float
    conf_threshold: float
    class_conf: Mapping[int, float] | None = None


@dataclass(frozen=True, slots=True)
class PooledMatches:
    """Every accumulated prediction's matches, confidence and class, and every label's class."""

    true_positives: npt.NDArray[np.bool_]
    """(P, 10): matched at each IoU threshold of 0.5:0.95."""
    confidences: FloatArray
    class_ids: npt.NDArray[np.int64]
    ground_truth_class_ids: npt.NDArray[np.int64]


def box_iou(boxes_a: FloatArray, boxes_b: FloatArray) -> FloatArray:
    """Pairwise IoU of two (N, 4) and (M, 4) xyxy arrays, shape (N, M)."""
    top_left = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0.0, None).prod(axis=2)
    area_a = np.clip(boxes_a[:, 2:] - boxes_a[:, :2], 0.0, None).prod(axis=1)
    area_b = np.clip(boxes_b[:, 2:] - boxes_b[:, :2], 0.0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    result: FloatArray = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return result


def _match(pred_boxes: FloatArray, gt_boxes: FloatArray) -> npt.NDArray[np.bool_]:
    """True-positive flags (P, T) for predictions already sorted by falling confidence."""
    flags = np.zeros((len(pred_boxes), len(IOU_THRESHOLDS)), dtype=bool)
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return flags
    ious = box_iou(pred_boxes, gt_boxes)
    for t, threshold in enumerate(IOU_THRESHOLDS):
        claimed = np.zeros(len(gt_boxes), dtype=bool)
        for p in range(len(pred_boxes)):
            candidates = np.where(claimed, -1.0, ious[p])
            best = int(np.argmax(candidates))
            # The tiny epsilon keeps an IoU of exactly the threshold a match despite rounding.
            if candidates[best] >= threshold - 1e-9:
                claimed[best] = True
                flags[p, t] = True
    return flags


def average_precision(tp: npt.NDArray[np.bool_], confidences: FloatArray, n_gt: int) -> float:
    """All-point interpolated AP of one class at one IoU threshold."""
    if n_gt == 0:
        return 0.0
    order = np.argsort(-confidences, kind="stable")
    hits = tp[order].astype(np.float64)
    cum_tp = np.cumsum(hits)
    cum_fp = np.cumsum(1.0 - hits)
    recall = np.concatenate([[0.0], cum_tp / n_gt, [1.0]])
    precision = np.concatenate([[1.0], cum_tp / np.maximum(cum_tp + cum_fp, 1e-12), [0.0]])
    envelope = np.flip(np.maximum.accumulate(np.flip(precision)))
    steps = np.where(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * envelope[steps + 1]))


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2 * precision * recall / total if total > 0 else 0.0


@dataclass
class MetricsAccumulator:
    """Collects per-image matches so a dataset can be evaluated as a stream."""

    conf_threshold: float = 0.25
    class_conf: Mapping[int, float] | None = None
    """Per-class thresholds for P/R/F1; a class not listed uses ``conf_threshold``."""
    _tp: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    _conf: list[FloatArray] = field(default_factory=list)
    _cls: list[npt.NDArray[np.int64]] = field(default_factory=list)
    _gt_cls: list[int] = field(default_factory=list)

    def add(self, predictions: Sequence[Prediction], ground_truths: Sequence[GroundTruth]) -> None:
        classes = {p.class_id for p in predictions} | {g.class_id for g in ground_truths}
        for class_id in sorted(classes):
            preds = sorted(
                (p for p in predictions if p.class_id == class_id), key=lambda p: -p.confidence
            )
            gts = [g for g in ground_truths if g.class_id == class_id]
            pred_boxes = np.array([[p.x1, p.y1, p.x2, p.y2] for p in preds], np.float64)
            gt_boxes = np.array([[g.x1, g.y1, g.x2, g.y2] for g in gts], np.float64)
            self._tp.append(_match(pred_boxes.reshape(-1, 4), gt_boxes.reshape(-1, 4)))
            self._conf.append(np.array([p.confidence for p in preds], np.float64))
            self._cls.append(np.full(len(preds), class_id, np.int64))
            self._gt_cls.extend([class_id] * len(gts))

    def extend(self, other: MetricsAccumulator) -> None:
        """Adds another accumulator's images, e.g. to pool several datasets' results."""
        self._tp.extend(other._tp)
        self._conf.extend(other._conf)
        self._cls.extend(other._cls)
        self._gt_cls.extend(other._gt_cls)

    def threshold_for(self, class_id: int) -> float:
        if self.class_conf is not None and class_id in self.class_conf:
            return self.class_conf[class_id]
        return self.conf_threshold

    def pooled(self) -> PooledMatches:
        empty_tp = np.zeros((0, len(IOU_THRESHOLDS)), dtype=bool)
        return PooledMatches(
            true_positives=np.concatenate([empty_tp, *self._tp]),
            confidences=np.concatenate([np.zeros(0), *self._conf]),
            class_ids=np.concatenate([np.zeros(0, np.int64), *self._cls]),
            ground_truth_class_ids=np.array(self._gt_cls, np.int64),
        )

    def _class_row(self, pooled: PooledMatches, class_id: int) -> ClassMetrics:
        tp, conf = pooled.true_positives, pooled.confidences
        mine = pooled.class_ids == class_id
        n_gt = int((pooled.ground_truth_class_ids == class_id).sum())
        threshold = self.threshold_for(class_id)
        kept = mine & (conf >= threshold)
        n_pred = int(kept.sum())
        n_tp = int(tp[kept, 0].sum())
        precision, recall = _ratio(n_tp, n_pred), _ratio(n_tp, n_gt)
        aps = [average_precision(tp[mine, t], conf[mine], n_gt) for t in range(tp.shape[1])]
        return ClassMetrics(
            class_id=class_id,
            ground_truths=n_gt,
            predictions=n_pred,
            true_positives=n_tp,
            precision=precision,
            recall=recall,
            f1=_f1(precision, recall),
            ap50=aps[0] if n_gt else None,
            ap50_95=float(np.mean(aps)) if n_gt else None,
            conf_threshold=threshold,
        )

    def summary(self, class_ids: Sequence[int] = ()) -> MetricsSummary:
        """Metrics for ``class_ids`` plus any class seen in predictions or ground truth."""
        pooled = self.pooled()
        cls, gt_cls = pooled.class_ids, pooled.ground_truth_class_ids
        all_ids = sorted(set(class_ids) | set(cls.tolist()) | set(gt_cls.tolist()))
        rows = [self._class_row(pooled, class_id) for class_id in all_ids]
        total_tp = sum(r.true_positives for r in rows)
        precision = _ratio(total_tp, sum(r.predictions for r in rows))
        recall = _ratio(total_tp, sum(r.ground_truths for r in rows))
        ap50s = [r.ap50 for r in rows if r.ap50 is not None]
        ap_all = [r.ap50_95 for r in rows if r.ap50_95 is not None]
        return MetricsSummary(
            per_class=tuple(rows),
            precision=precision,
            recall=recall,
            f1=_f1(precision, recall),
            map50=float(np.mean(ap50s)) if ap50s else 0.0,
            map50_95=float(np.mean(ap_all)) if ap_all else 0.0,
            conf_threshold=self.conf_threshold,
            class_conf=dict(self.class_conf) if self.class_conf is not None else None,
        )
