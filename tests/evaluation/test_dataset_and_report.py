from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from roadhazard.evaluation import (
    DatasetError,
    Prediction,
    evaluate,
    format_table,
    read_yolo_dataset,
)

MODEL_NAMES = ("D00", "D10", "D20", "D40", "D50")


def _write_image(path: Path, width: int, height: int, labels: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height)).save(path)
    if labels is not None:
        label = Path(str(path).replace("images", "labels")).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(labels)


def test_reads_ultralytics_layout_with_data_yaml_into_pixel_xyxy(tmp_path: Path) -> None:
    _write_image(tmp_path / "images" / "val" / "a.jpg", 200, 100, "1 0.5 0.5 0.2 0.4\n")
    _write_image(tmp_path / "images" / "val" / "b.jpg", 50, 50, None)
    (tmp_path / "data.yaml").write_text("path: .\nval: images/val\nnames: [crack, pothole]\n")
    dataset = read_yolo_dataset(tmp_path, "val")
    assert dataset.class_names == ("crack", "pothole")
    first, second = dataset.images
    assert (first.width, first.height) == (200, 100)
    (box,) = first.ground_truths
    assert (box.class_id, box.x1, box.y1, box.x2, box.y2) == pytest.approx((1, 80, 30, 120, 70))
    assert second.ground_truths == ()


def test_reads_roboflow_layout_where_val_is_spelled_valid(tmp_path: Path) -> None:
    _write_image(tmp_path / "valid" / "images" / "x.jpg", 64, 64, "0 0.5 0.5 1 1\n")
    dataset = read_yolo_dataset(tmp_path, "val")
    assert dataset.class_names is None
    assert dataset.images[0].ground_truths[0].x2 == pytest.approx(64)


def test_malformed_label_line_names_file_and_line(tmp_path: Path) -> None:
    _write_image(tmp_path / "images" / "val" / "a.jpg", 10, 10, "0 0.5 0.5\n")
    with pytest.raises(DatasetError, match=r"a\.txt:1"):
        read_yolo_dataset(tmp_path, "val")


def test_missing_dataset_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError):
        read_yolo_dataset(tmp_path / "nope", "val")


def test_evaluate_maps_dataset_names_through_the_taxonomy(tmp_path: Path) -> None:
    _write_image(tmp_path / "valid" / "images" / "x.jpg", 100, 100, "0 0.5 0.5 0.5 0.5\n")
    _write_image(tmp_path / "valid" / "images" / "y.jpg", 100, 100, "0 0.2 0.2 0.2 0.2\n")

    def predict(path: Path) -> list[Prediction]:
        # A perfect pothole (model class 3 = D40) on x.jpg, nothing on y.jpg.
        return [Prediction(3, 0.9, 25, 25, 75, 75)] if path.stem == "x" else []

    progress: list[tuple[int, int]] = []
    report = evaluate(
        tmp_path,
        predict,
        MODEL_NAMES,
        dataset_class_names=["Pothole"],
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert progress == [(1, 2), (2, 2)]
    (row,) = report.metrics.per_class
    assert report.class_names[row.class_id] == "D40"
    assert (row.ground_truths, row.true_positives) == (2, 1)
    assert report.metrics.recall == pytest.approx(0.5)
    assert report.metrics.map50 == pytest.approx(0.5)
    as_json = json.loads(report.to_json())
    assert as_json["classes"][0]["name"] == "D40"
    assert as_json["overall"]["precision"] == pytest.approx(1.0)
    table = format_table(report)
    assert "D40" in table
    assert "all" in table


def test_dataset_class_unknown_to_the_model_counts_as_missed(tmp_path: Path) -> None:
    _write_image(tmp_path / "valid" / "images" / "x.jpg", 100, 100, "0 0.5 0.5 0.5 0.5\n")
    report = evaluate(tmp_path, lambda _: [], MODEL_NAMES, dataset_class_names=["speed bump"])
    (row,) = report.metrics.per_class
    assert report.class_names[row.class_id] == "speed bump"
    assert row.recall == 0.0


def test_classes_a_dataset_never_labels_are_not_scored_on_it(tmp_path: Path) -> None:
    """A pothole-only dataset cannot judge a crack: it is left out, not a false positive."""
    _write_image(tmp_path / "valid" / "images" / "x.jpg", 100, 100, "0 0.5 0.5 0.5 0.5\n")

    def predict(_: Path) -> list[Prediction]:
        return [Prediction(3, 0.9, 25, 25, 75, 75), Prediction(0, 0.9, 0, 0, 10, 90)]

    named = evaluate(tmp_path, predict, MODEL_NAMES, dataset_class_names=["Pothole"])
    assert [named.class_names[row.class_id] for row in named.metrics.per_class] == ["D40"]
    assert named.metrics.precision == 1.0
    # Without names, ids are taken as the model's own and every prediction counts.
    by_id = evaluate(tmp_path, predict, MODEL_NAMES)
    assert by_id.metrics.precision == 0.0
