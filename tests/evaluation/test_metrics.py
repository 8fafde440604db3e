from __future__ import annotations

import numpy as np
import pytest

from roadhazard.evaluation import (
    GroundTruth,
    MetricsAccumulator,
    Prediction,
    average_precision,
    box_iou,
)


def gt(x1: float, y1: float, x2: float, y2: float, class_id: int = 0) -> GroundTruth:
    return GroundTruth(class_id, x1, y1, x2, y2)


def pred(conf: float, x1: float, y1: float, x2: float, y2: float, class_id: int = 0) -> Prediction:
    return Prediction(class_id, conf, x1, y1, x2, y2)


def test_box_iou_hand_computed() -> None:
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 10.0]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0]])


def test_perfect_predictions_score_one_everywhere() -> None:
    accumulator = MetricsAccumulator()
    truths = [gt(0, 0, 10, 10, 0), gt(20, 20, 40, 50, 1)]
    accumulator.add([pred(0.9, t.x1, t.y1, t.x2, t.y2, t.class_id) for t in truths], truths)
    accumulator.add([pred(0.8, 5, 5, 25, 25, 1)], [gt(5, 5, 25, 25, 1)])
    summary = accumulator.summary()
    assert (summary.precision, summary.recall, summary.f1) == (1.0, 1.0, 1.0)
    assert summary.map50 == pytest.approx(1.0)
    assert summary.map50_95 == pytest.approx(1.0)
    assert [row.ap50 for row in summary.per_class] == [pytest.approx(1.0)] * 2


def _miss_and_false_positive() -> MetricsAccumulator:
    """3 labels; hits at conf 0.9 and 0.7, a false positive at 0.8, one label missed."""
    accumulator = MetricsAccumulator(conf_threshold=0.25)
    accumulator.add([pred(0.9, 0, 0, 10, 10), pred(0.8, 50, 50, 60, 60)], [gt(0, 0, 10, 10)])
    accumulator.add([pred(0.7, 0, 0, 10, 10)], [gt(0, 0, 10, 10), gt(30, 30, 40, 40)])
    return accumulator


def test_miss_and_false_positive_exact_numbers() -> None:
    summary = _miss_and_false_positive().summary()
    (row,) = summary.per_class
    assert (row.ground_truths, row.predictions, row.true_positives) == (3, 3, 2)
    assert row.precision == pytest.approx(2 / 3)
    assert row.recall == pytest.approx(2 / 3)
    assert row.f1 == pytest.approx(2 / 3)
    # Ranked TP, FP, TP: the envelope is 1 up to recall 1/3, then 2/3 up to recall 2/3.
    assert row.ap50 == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)
    # Every hit has IoU 1, so all ten thresholds agree.
    assert row.ap50_95 == pytest.approx(5 / 9)
    assert summary.map50 == pytest.approx(5 / 9)


def test_confidence_threshold_only_affects_precision_and_recall() -> None:
    accumulator = _miss_and_false_positive()
    accumulator.conf_threshold = 0.75
    summary = accumulator.summary()
    assert summary.precision == pytest.approx(1 / 2)
    assert summary.recall == pytest.approx(1 / 3)
    assert summary.f1 == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert summary.map50 == pytest.approx(5 / 9)


def test_iou_exactly_half_is_a_match_at_50_only() -> None:
    accumulator = MetricsAccumulator()
    accumulator.add([pred(0.9, 0, 0, 10, 5)], [gt(0, 0, 10, 10)])  # IoU = 0.5
    summary = accumulator.summary()
    assert summary.map50 == pytest.approx(1.0)
    assert summary.map50_95 == pytest.approx(0.1)  # matched at 0.50, missed at 0.55..0.95


def test_iou_just_below_half_is_a_false_positive() -> None:
    accumulator = MetricsAccumulator()
    accumulator.add([pred(0.9, 0, 0, 10, 4.9)], [gt(0, 0, 10, 10)])  # IoU = 0.49
    summary = accumulator.summary()
    assert (summary.precision, summary.recall, summary.map50) == (0.0, 0.0, 0.0)


def test_wrong_class_never_matches_and_duplicates_are_false_positives() -> None:
    accumulator = MetricsAccumulator()
    accumulator.add(
        [pred(0.9, 0, 0, 10, 10, 0), pred(0.8, 0, 0, 10, 10, 0), pred(0.7, 0, 0, 10, 10, 1)],
        [gt(0, 0, 10, 10, 0)],
    )
    summary = accumulator.summary()
    by_class = {row.class_id: row for row in summary.per_class}
    assert by_class[0].true_positives == 1
    assert by_class[0].precision == pytest.approx(1 / 2)
    assert by_class[1].ap50 is None  # no labels of class 1: excluded from mAP
    assert summary.map50 == pytest.approx(1.0)
    assert summary.precision == pytest.approx(1 / 3)


def test_average_precision_without_predictions_is_zero() -> None:
    assert average_precision(np.zeros(0, bool), np.zeros(0), n_gt=4) == 0.0


def test_empty_accumulator_summarises_to_zeros() -> None:
    summary = MetricsAccumulator().summary(class_ids=[0, 1])
    assert summary.map50 == 0.0
    assert [row.ap50 for row in summary.per_class] == [None, None]
