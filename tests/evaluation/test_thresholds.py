"""The best-F1 per-class threshold picker, on examples worked out by hand."""

from __future__ import annotations

import pytest

from roadhazard.evaluation import (
    GroundTruth,
    MetricsAccumulator,
    Prediction,
    ThresholdChoice,
    best_f1_thresholds,
)

LABEL = (0.0, 0.0, 10.0, 10.0)


def hit(conf: float, class_id: int) -> Prediction:
    return Prediction(class_id, conf, *LABEL)


def miss(conf: float, class_id: int) -> Prediction:
    return Prediction(class_id, conf, 50.0, 50.0, 60.0, 60.0)


def label(class_id: int) -> GroundTruth:
    return GroundTruth(class_id, *LABEL)


def worked_example() -> MetricsAccumulator:
    """One image per prediction that should hit, so each hit claims its own label."""
    accumulator = MetricsAccumulator()
    # Class 0, 3 labels: ranked hit 0.9, miss 0.8, hit 0.7, miss 0.4 (one label never found).
    accumulator.add([hit(0.9, 0), miss(0.8, 0)], [label(0)])
    accumulator.add([hit(0.7, 0), miss(0.4, 0)], [label(0), label(0)])
    # Class 1, 2 labels: a hit and a miss tied at 0.6 (one cut, never split), a hit at 0.3.
    accumulator.add([hit(0.6, 1), miss(0.6, 1)], [label(1)])
    accumulator.add([hit(0.3, 1)], [label(1)])
    # Class 2, 2 labels: hit 0.9, misses 0.8 and 0.7, hit 0.6; the cuts at 0.9 and 0.6 tie.
    accumulator.add([hit(0.9, 2), miss(0.8, 2), miss(0.7, 2)], [label(2)])
    accumulator.add([hit(0.6, 2)], [label(2)])
    # Class 3 is only ever missed; class 4 has predictions but no labels.
    accumulator.add([miss(0.9, 3), miss(0.5, 4)], [label(3)])
    return accumulator


def test_best_f1_thresholds_on_a_worked_example() -> None:
    choices = best_f1_thresholds(worked_example())

    # Class 0: F1 = 2 TP / (kept + labels) is 2/4, 2/5, 4/6 and 4/7 at the cuts 0.9, 0.8,
    # 0.7 and 0.4. The best keeps down to 0.7; its threshold is halfway to the next, 0.4.
    assert choices[0] == ThresholdChoice(
        conf=pytest.approx(0.55), precision=2 / 3, recall=2 / 3, f1=pytest.approx(2 / 3)
    )
    # Class 1: the 0.6 cut keeps both tied predictions (P 1/2, R 1/2); 0.3 keeps all three
    # (P 2/3, R 1, F1 0.8). Nothing lies below 0.3, so the threshold is halfway to 0.
    assert choices[1] == ThresholdChoice(
        conf=pytest.approx(0.15), precision=2 / 3, recall=1.0, f1=pytest.approx(0.8)
    )
    # Class 2: F1 2/3 at 0.9 (P 1, R 1/2) and at 0.6 (P 1/2, R 1); the higher cut wins.
    assert choices[2] == ThresholdChoice(
        conf=pytest.approx(0.85), precision=1.0, recall=0.5, f1=pytest.approx(2 / 3)
    )
    # No threshold finds class 3 anything; class 4 has nothing to find.
    assert set(choices) == {0, 1, 2}


def test_picked_thresholds_give_the_same_f1_in_evaluation() -> None:
    accumulator = worked_example()
    choices = best_f1_thresholds(accumulator)

    accumulator.class_conf = {class_id: choice.conf for class_id, choice in choices.items()}
    rows = {row.class_id: row for row in accumulator.summary().per_class}

    for class_id, choice in choices.items():
        assert rows[class_id].f1 == pytest.approx(choice.f1)
        assert rows[class_id].conf_threshold == choice.conf
    assert rows[3].conf_threshold == 0.25  # unlisted classes keep conf_threshold


def test_nothing_accumulated_picks_nothing() -> None:
    assert best_f1_thresholds(MetricsAccumulator()) == {}
