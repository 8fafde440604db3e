"""Several datasets as one training set: specs, class mapping, label masks, repeat factors.

These need no torch, so they run everywhere the service's tests run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tools.train.sources import (
    DatasetSpec,
    DatasetSpecError,
    SourceDataset,
    map_class_names,
    repeat_factors,
    source_for,
)

MODEL = ("D00", "D10", "D20", "D40", "D50")


def test_spec_parses_location_names_and_weight() -> None:
    spec = DatasetSpec.parse("data/potholes:Pothole*0.5")
    assert spec == DatasetSpec(Path("data/potholes"), ("Pothole",), 0.5)
    assert DatasetSpec.parse("data/rdd") == DatasetSpec(Path("data/rdd"), None, 1.0)
    assert DatasetSpec.parse("d:a, b").names == ("a", "b")


@pytest.mark.parametrize("text", ["d*x", "d*0", "d*-1"])
def test_spec_refuses_a_bad_weight(text: str) -> None:
    with pytest.raises(DatasetSpecError, match="weight"):
        DatasetSpec.parse(text)


def test_names_map_through_the_taxonomy_to_the_model_classes() -> None:
    assert map_class_names(["Pothole"], MODEL, "potholes") == {0: 3}
    rdd = ["D00", "D10", "D20", "D40"]
    assert map_class_names(rdd, MODEL, "rdd") == {0: 0, 1: 1, 2: 2, 3: 3}
    # Display names and codes in another order land on the same outputs.
    assert map_class_names(["manhole cover", "alligator crack"], MODEL, "x") == {0: 4, 1: 2}


def test_a_name_outside_the_taxonomy_is_refused_with_a_hint() -> None:
    with pytest.raises(DatasetSpecError, match=r"'zebra'.*--data DIR:NAME"):
        map_class_names(["zebra"], MODEL, "animals")


def test_a_class_the_model_does_not_train_is_refused() -> None:
    with pytest.raises(DatasetSpecError, match="not trained"):
        map_class_names(["D50"], ("D00", "D40"), "synth")


def test_a_dataset_labels_only_the_classes_its_names_map_to() -> None:
    potholes = source_for(DatasetSpec(Path("p"), ("Pothole",)), None, MODEL)
    assert potholes.labelled == frozenset({3})
    assert potholes.label_mask(5).tolist() == [0, 0, 0, 1, 0]
    rdd = source_for(DatasetSpec(Path("rdd")), ("D00", "D10", "D20", "D40"), MODEL)
    assert rdd.label_mask(5).tolist() == [1, 1, 1, 1, 0]


def test_names_on_the_command_line_override_data_yaml() -> None:
    source = source_for(DatasetSpec(Path("p"), ("pothole",)), ("D00",), MODEL)
    assert source.class_map == {0: 3}


def test_a_dataset_without_names_is_refused() -> None:
    with pytest.raises(DatasetSpecError, match=r"no data\.yaml"):
        source_for(DatasetSpec(Path("p")), None, MODEL)


def test_rare_classes_are_repeated_and_background_is_not() -> None:
    rdd = SourceDataset("rdd", {}, frozenset({0, 2}))
    # 10 images: class 0 in 8 of them, class 2 in 1, one background.
    classes = [frozenset({0})] * 8 + [frozenset({0, 2}), frozenset()]
    factors = repeat_factors(classes, [0] * 10, [rdd], threshold=0.5)
    # class 0 is in 90 % of images (no repeat); class 2 in 10 %: sqrt(0.5 / 0.1).
    assert factors[:8].tolist() == [1.0] * 8
    assert factors[8] == pytest.approx(np.sqrt(5.0))
    assert factors[9] == 1.0


def test_frequency_counts_only_the_images_that_label_the_class() -> None:
    # Cracks in 1 of 2 RDD photos are not rare just because 98 pothole photos never
    # label cracks; the pothole photos' weight scales all of their factors.
    rdd = SourceDataset("rdd", {}, frozenset({0, 3}))
    potholes = SourceDataset("potholes", {}, frozenset({3}), weight=0.5)
    classes = [frozenset({0}), frozenset()] + [frozenset({3})] * 98
    factors = repeat_factors(classes, [0, 0] + [1] * 98, [rdd, potholes], threshold=0.5)
    assert factors[0] == 1.0
    assert factors[2:].tolist() == [0.5] * 98
