"""NMS and box un-mapping on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from roadhazard.detection.layouts import Layout
from roadhazard.detection.postprocess import (
    Candidates,
    Thresholds,
    class_aware_nms,
    decode,
    to_original_pixels,
)
from roadhazard.detection.preprocess import Letterbox


def candidates(rows: list[tuple[float, float, float, float, float, int]]) -> Candidates:
    array = np.asarray(rows, dtype=np.float32).reshape(-1, 6)
    return Candidates(array[:, :4].copy(), array[:, 4].copy(), array[:, 5].astype(np.int64))


def test_nms_suppresses_only_above_the_iou_threshold() -> None:
    # IoU of the first two boxes is 1/3: they share 50 of their 100 + 100 - 50 = 150.
    found = candidates([(0, 0, 10, 10, 0.9, 0), (5, 0, 15, 10, 0.8, 0), (0, 0, 10, 10, 0.7, 0)])

    kept = class_aware_nms(found, iou_threshold=0.4, max_det=10)

    # Box 2 duplicates box 0 (IoU 1.0); box 1 overlaps it by 1/3, under 0.4.
    assert kept.scores.tolist() == pytest.approx([0.9, 0.8])


def test_nms_keeps_a_box_whose_iou_equals_the_threshold() -> None:
    # Exact in float32: the lower half of a 10 x 10 box has IoU 50 / 100 = 0.5 with it, and the
    # lower 6/10 have 60 / 100 = 0.6. Ultralytics suppresses only above the threshold.
    found = candidates([(0, 0, 10, 10, 0.9, 0), (0, 0, 10, 5, 0.8, 0), (0, 0, 10, 6, 0.7, 0)])

    kept = class_aware_nms(found, iou_threshold=0.5, max_det=10)

    assert kept.scores.tolist() == pytest.approx([0.9, 0.8])
    assert kept.boxes.tolist() == [[0, 0, 10, 10], [0, 0, 10, 5]]


def test_nms_keeps_overlapping_boxes_of_different_classes() -> None:
    found = candidates([(0, 0, 10, 10, 0.9, 0), (0, 0, 10, 10, 0.8, 1)])

    kept = class_aware_nms(found, iou_threshold=0.5, max_det=10)

    assert kept.class_ids.tolist() == [0, 1]


def test_nms_orders_by_score_and_stops_at_max_det() -> None:
    found = candidates([(i * 20, 0, i * 20 + 10, 10, 0.1 * (i + 1), 0) for i in range(5)])

    kept = class_aware_nms(found, iou_threshold=0.5, max_det=3)

    assert kept.scores.tolist() == pytest.approx([0.5, 0.4, 0.3])


def test_nms_of_nothing_is_nothing() -> None:
    assert len(class_aware_nms(candidates([]), 0.5, 10)) == 0


def test_raw_decode_uses_the_best_class_per_anchor() -> None:
    # One anchor: box (cx 50, cy 50, w 20, h 10), class scores 0.3 and 0.6.
    output = np.asarray([[[50], [50], [20], [10], [0.3], [0.6]]], dtype=np.float32)

    found = decode(output, Layout.RAW, Thresholds(conf=0.25, iou=0.7, max_det=10))

    assert found.boxes.tolist() == [[40.0, 45.0, 60.0, 55.0]]
    assert found.class_ids.tolist() == [1]
    assert found.scores.tolist() == pytest.approx([0.6])


def test_unmapping_removes_padding_divides_by_gain_and_clips() -> None:
    found = candidates([(-10, 30, 100, 400, 0.9, 0)])
    placement = Letterbox(gain=0.5, pad_left=0, pad_top=40, width=640, height=480)

    mapped = to_original_pixels(found, placement)

    assert mapped.boxes.tolist() == [[0.0, 0.0, 200.0, 480.0]]
