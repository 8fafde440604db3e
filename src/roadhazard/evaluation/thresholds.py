"""Per-class confidence thresholds that maximise F1 at IoU 0.5 (the RDD challenge rule).

The training tool runs the model over its validation splits into a ``MetricsAccumulator``
(at a low confidence such as 0.001, so every candidate threshold is seen), then stores
``{class_id: choice.conf}`` as the exported model's ``class_conf`` metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roadhazard.evaluation.metrics import MetricsAccumulator


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """The best threshold of one class, and the precision, recall and F1 it gives there."""

    conf: float
    precision: float
    recall: float
    f1: float


def best_f1_thresholds(accumulator: MetricsAccumulator) -> dict[int, ThresholdChoice]:
    """For each class with labels and at least one hit, the threshold with the best F1.

    Ties go to the higher threshold: as good a score with fewer detections. The threshold
    lies halfway between the lowest kept confidence and the next lower one (or 0), so the
    service's ``score > conf`` and evaluation's ``score >= conf`` keep the same predictions.
    A class no threshold gives a hit is left out, so it keeps the service's default.
    """
    pooled = accumulator.pooled()
    hits_at_50 = pooled.true_positives[:, 0]
    choices: dict[int, ThresholdChoice] = {}
    for class_id in np.unique(pooled.ground_truth_class_ids).tolist():
        mine = pooled.class_ids == class_id
        n_gt = int((pooled.ground_truth_class_ids == class_id).sum())
        choice = _best_for_class(pooled.confidences[mine], hits_at_50[mine], n_gt)
        if choice is not None:
            choices[int(class_id)] = choice
    return choices


def _best_for_class(
    confidences: npt.NDArray[np.float64], hits: npt.NDArray[np.bool_], n_gt: int
) -> ThresholdChoice | None:
    if confidences.size == 0:
        return None
    order = np.argsort(-confidences, kind="stable")
    conf, tp = confidences[order], np.cumsum(hits[order])
    # Only the last prediction of a run of equal confidences is a threshold one can set.
    ends = np.flatnonzero(np.append(conf[1:] != conf[:-1], True))
    kept = ends + 1
    precision = tp[ends] / kept
    recall = tp[ends] / n_gt
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    if f1.size == 0 or f1.max() <= 0:
        return None
    best = int(np.argmax(f1))  # the first maximum: the highest threshold among ties
    end = int(ends[best])
    below = float(conf[end + 1]) if end + 1 < len(conf) else 0.0
    return ThresholdChoice(
        conf=(float(conf[end]) + below) / 2,
        precision=float(precision[best]),
        recall=float(recall[best]),
        f1=float(f1[best]),
    )
