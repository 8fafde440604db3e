"""NMS and box un-mapping on hand-made arrays."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
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


# Per-class thresholds D00 0.5, D40 0.3, D50 0.8 over three far-apart anchors per class.
PER_CLASS = Thresholds.per_class([0.5, 0.3, 0.8], iou=0.7, max_det=100)
# (class id, score) of each anchor; NMS never touches them, so only the thresholds decide.
ANCHORS = [(0, 0.55), (0, 0.45), (1, 0.35), (1, 0.25), (2, 0.85), (2, 0.75), (0, 0.5)]
SURVIVORS = [(0, 0.55), (1, 0.35), (2, 0.85)]  # 0.5 is not above 0.5, as Ultralytics has it


def _far_apart_boxes(n: int) -> list[tuple[float, float, float, float]]:
    return [(20.0 + 40 * i, 20.0, 10.0, 10.0) for i in range(n)]  # cx, cy, w, h


def _kept(found: Candidates) -> list[tuple[int, float]]:
    return sorted(
        ((int(c), round(float(s), 4)) for c, s in zip(found.class_ids, found.scores, strict=True)),
        key=lambda kept: kept[0],
    )


def _raw_anchors() -> npt.NDArray[np.float32]:
    scores = np.zeros((len(ANCHORS), 3), np.float32)
    for row, (class_id, score) in enumerate(ANCHORS):
        scores[row, class_id] = score
    boxes = np.asarray(_far_apart_boxes(len(ANCHORS)), np.float32)
    return np.concatenate([boxes, scores], axis=1).T[np.newaxis].copy()


def test_per_class_thresholds_in_the_raw_layout() -> None:
    output = _raw_anchors()

    assert _kept(decode(output, Layout.RAW, PER_CLASS)) == SURVIVORS


def test_per_class_thresholds_in_the_yolov5_layout() -> None:
    rows = [
        (*box, 1.0, *[float(c == k) * s for k in range(3)])
        for box, (c, s) in zip(_far_apart_boxes(len(ANCHORS)), ANCHORS, strict=True)
    ]
    output = np.asarray(rows, np.float32)[np.newaxis]

    assert _kept(decode(output, Layout.YOLOV5, PER_CLASS)) == SURVIVORS


def test_per_class_thresholds_in_the_end2end_layout() -> None:
    rows = [
        (x - 5, y - 5, x + 5, y + 5, s, c)
        for (x, y, _, _), (c, s) in zip(_far_apart_boxes(len(ANCHORS)), ANCHORS, strict=True)
    ]
    output = np.zeros((1, 300, 6), np.float32)
    output[0, : len(rows)] = rows

    assert _kept(decode(output, Layout.END2END, PER_CLASS)) == SURVIVORS


def test_an_end2end_class_id_past_the_table_uses_the_last_threshold() -> None:
    output = np.zeros((1, 300, 6), np.float32)
    output[0, :2] = [(0, 0, 10, 10, 0.9, 7), (20, 0, 30, 10, 0.7, 7)]

    assert _kept(decode(output, Layout.END2END, PER_CLASS)) == [(7, 0.9)]


def test_per_class_thresholds_combine_with_a_class_filter() -> None:
    output = _raw_anchors()
    only_d40 = PER_CLASS.overridden(classes=[1])

    assert _kept(decode(output, Layout.RAW, only_d40)) == [(1, 0.35)]
