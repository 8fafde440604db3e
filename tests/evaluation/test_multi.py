"""Several datasets in one evaluation: the PATH[:NAMES] syntax and shared class ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from roadhazard.evaluation import (
    DatasetError,
    DatasetSpec,
    Prediction,
    evaluate_datasets,
    parse_dataset_spec,
)

MODEL_NAMES = ("D00", "D40")


def test_a_spec_is_a_path_with_optional_class_names(tmp_path: Path) -> None:
    assert parse_dataset_spec("data/rdd2022") == DatasetSpec(Path("data/rdd2022"))
    assert parse_dataset_spec("data/potholes:Pothole") == DatasetSpec(
        Path("data/potholes"), ("Pothole",)
    )
    assert parse_dataset_spec("d:crack, pothole") == DatasetSpec(Path("d"), ("crack", "pothole"))
    # A folder whose own name has a colon is still a path.
    odd = tmp_path / "2024:march"
    odd.mkdir()
    assert parse_dataset_spec(str(odd)) == DatasetSpec(odd)


@pytest.mark.parametrize("text", ["data:", ":Pothole", "data: , "])
def test_a_spec_with_an_empty_part_is_refused(text: str) -> None:
    with pytest.raises(DatasetError, match="PATH:NAME"):
        parse_dataset_spec(text)


def _one_image_dataset(root: Path, label_line: str) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    Image.new("RGB", (100, 100)).save(root / "images" / "a.png")
    (root / "labels" / "a.txt").write_text(label_line + "\n")
    return root


def test_a_class_the_model_lacks_gets_one_id_across_datasets(tmp_path: Path) -> None:
    first = _one_image_dataset(tmp_path / "a", "0 0.5 0.5 0.2 0.2")
    second = _one_image_dataset(tmp_path / "b", "0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.1 0.1")

    def predict(_: Path) -> list[Prediction]:
        return [Prediction(1, 0.9, 40.0, 40.0, 60.0, 60.0)]  # a pothole, centred

    report = evaluate_datasets(
        [DatasetSpec(first, ("bollard",)), DatasetSpec(second, ("pothole", "bollard"))],
        predict,
        MODEL_NAMES,
    )

    pooled = report.combined
    combined = {pooled.class_names[r.class_id]: r for r in pooled.metrics.per_class}
    assert pooled.class_names == ("D00", "D40", "bollard")
    assert combined["bollard"].ground_truths == 2  # one in each dataset, under one id
    assert combined["bollard"].recall == 0.0
    assert (combined["D40"].ground_truths, combined["D40"].true_positives) == (1, 1)
    # The first dataset labels only bollards, so its pothole box is not scored there.
    assert combined["D40"].predictions == 1
    assert [r.images for r in report.datasets] == [1, 1]
