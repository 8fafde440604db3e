"""`roadhazard detect` on local files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from roadhazard.cli import main
from tests import scene
from tests.factories import encode_image


def test_detect_prints_json_per_image_and_writes_annotations(
    raw_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "road.png"
    image.write_bytes(encode_image(scene.IMAGE_SIZE, "PNG"))
    out_dir = tmp_path / "annotated"

    code = main(["detect", str(image), "--model", str(raw_model), "--annotate-dir", str(out_dir)])

    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert code == 0
    assert [d["class_name"] for d in record["detections"]] == ["D00", "D40", "D50"]
    assert record["detections"][0]["box"] == {"x1": 280.0, "y1": 220.0, "x2": 360.0, "y2": 260.0}
    assert "[1/1]" in captured.err
    annotated = Path(record["annotated"])
    assert annotated.parent == out_dir
    with Image.open(annotated) as drawn, Image.open(image) as original:
        assert drawn.size == original.size
        # The D00 box outline is drawn where the detection is.
        assert drawn.getpixel((280, 240)) != original.convert("RGB").getpixel((280, 240))


def test_detect_reports_unreadable_images_and_exits_non_zero(
    raw_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"nope")
    good = tmp_path / "good.jpg"
    good.write_bytes(encode_image(scene.IMAGE_SIZE))

    code = main(["detect", str(broken), str(good), "--model", str(raw_model), "--conf", "0.65"])

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert "not a supported image" in records[0]["error"]
    assert [d["class_name"] for d in records[1]["detections"]] == ["D00", "D40"]


def test_detect_with_a_missing_model_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["detect", "x.jpg", "--model", str(tmp_path / "absent.onnx")])

    assert code == 2
    assert "model file not found" in capsys.readouterr().err


def write_scene_dataset(root: Path, names: list[str]) -> None:
    """A one-image YOLO dataset whose labels are exactly the scene's known boxes."""
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    (root / "images" / "val" / "scene.jpg").write_bytes(encode_image(scene.IMAGE_SIZE))
    width, height = scene.IMAGE_SIZE
    lines = []
    for class_id, (_, _, x1, y1, x2, y2) in enumerate(scene.EXPECTED):
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        lines.append(
            f"{class_id} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
        )
    (root / "labels" / "val" / "scene.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(f"path: .\nval: images/val\nnames: {names}\n")


def test_eval_scores_a_model_on_a_yolo_dataset(
    raw_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The dataset names its classes differently; the taxonomy matches them to the model's.
    write_scene_dataset(tmp_path, ["longitudinal crack", "pothole", "manhole cover"])

    code = main(["eval", "--model", str(raw_model), "--data", str(tmp_path), "--json"])

    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 0
    assert report["images"] == 1
    assert report["overall"]["precision"] == 1.0
    assert report["overall"]["recall"] == 1.0
    assert report["overall"]["map50"] == pytest.approx(1.0)
    assert [c["true_positives"] for c in report["classes"]] == [1, 1, 1]
    assert "[eval] 1/1 images" in captured.err


def test_eval_prints_a_table_and_counts_misses(
    raw_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_scene_dataset(tmp_path, ["D00", "D40", "D50"])

    code = main(["eval", "--model", str(raw_model), "--data", str(tmp_path), "--conf", "0.65"])

    table = capsys.readouterr().out
    assert code == 0
    assert "mAP50" in table
    # At conf 0.65 the 0.6 D50 box is not counted, so recall overall is 2/3.
    overall = next(line for line in table.splitlines() if line.startswith("all"))
    assert "0.667" in overall


def test_eval_on_a_missing_dataset_says_so(
    raw_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["eval", "--model", str(raw_model), "--data", str(tmp_path / "nothing")])

    assert code == 2
    assert "cannot evaluate" in capsys.readouterr().err


def test_detect_uses_the_models_own_thresholds_unless_told_otherwise(
    tuned_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = tmp_path / "road.jpg"
    image.write_bytes(encode_image(scene.IMAGE_SIZE))

    def classes(*extra: str) -> list[str]:
        assert main(["detect", str(image), "--model", str(tuned_model), *extra]) == 0
        return [d["class_name"] for d in json.loads(capsys.readouterr().out)["detections"]]

    # The model's 0.95 for D00 drops its 0.9 box; --conf replaces every class's threshold.
    assert classes() == ["D40", "D50"]
    assert classes("--conf", "0.25") == ["D00", "D40", "D50"]
    monkeypatch.setenv("ROADHAZARD_CONF_THRESHOLD", "0.65")
    assert classes() == ["D00", "D40"]


def write_pothole_dataset(root: Path) -> None:
    """Roboflow's layout with no data.yaml: the scene's pothole, plus one nothing detects."""
    (root / "valid" / "images").mkdir(parents=True)
    (root / "valid" / "labels").mkdir(parents=True)
    (root / "valid" / "images" / "scene.jpg").write_bytes(encode_image(scene.IMAGE_SIZE))
    width, height = scene.IMAGE_SIZE
    _, _, x1, y1, x2, y2 = scene.EXPECTED[1]  # the D40 box
    cx, cy, w, h = (
        (x1 + x2) / 2 / width,
        (y1 + y2) / 2 / height,
        (x2 - x1) / width,
        (y2 - y1) / height,
    )
    found = f"0 {cx} {cy} {w} {h}"
    (root / "valid" / "labels" / "scene.txt").write_text(f"{found}\n0 0.9 0.9 0.05 0.05\n")


def two_datasets(tmp_path: Path) -> tuple[Path, Path]:
    rdd, potholes = tmp_path / "rdd", tmp_path / "potholes"
    write_scene_dataset(rdd, ["D00", "D40", "D50"])
    write_pothole_dataset(potholes)
    return rdd, potholes


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in report["classes"]}


def test_eval_on_two_datasets_scores_each_and_both_pooled(
    raw_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rdd, potholes = two_datasets(tmp_path)

    code = main(
        ["eval", "--model", str(raw_model), "--data", str(rdd), f"{potholes}:Pothole", "--json"]
    )

    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert code == 0
    first, second = document["datasets"]
    assert (first["dataset"], second["dataset"]) == (str(rdd), str(potholes))
    assert by_name(first)["D40"]["recall"] == 1.0
    # 'Pothole' is matched to the model's D40 through the taxonomy; one of its two is missed.
    assert by_name(second)["D40"]["ground_truths"] == 2
    assert by_name(second)["D40"]["recall"] == 0.5
    combined = document["combined"]
    assert (combined["dataset"], combined["images"]) == ("combined", 2)
    # Pooled, not averaged: 2 of 3 potholes found (the mean of the two recalls is 0.75).
    assert by_name(combined)["D40"]["recall"] == pytest.approx(2 / 3)
    # The pothole set never labels cracks, so its D00 box is not scored there (partial labels).
    assert by_name(combined)["D00"]["precision"] == 1.0
    assert set(by_name(combined)["D40"]) >= {"precision", "recall", "f1", "ap50", "ap50_95"}
    assert f"[eval] 1/1 images of {rdd}" in captured.err
    assert f"[eval] 1/1 images of {potholes}" in captured.err


def test_eval_on_two_datasets_prints_a_table_each_and_a_combined_one(
    raw_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rdd, potholes = two_datasets(tmp_path)

    args = ["eval", "--model", str(raw_model), "--data", str(rdd), "--data", f"{potholes}:Pothole"]
    code = main(args)

    tables = capsys.readouterr().out.split("\n\n")
    assert code == 0
    assert [table.splitlines()[0].split(" [")[0] for table in tables] == [
        str(rdd),
        str(potholes),
        "combined",
    ]
    combined_all = next(line for line in tables[2].splitlines() if line.startswith("all"))
    # 5 labels (3 + 2) and 4 scored predictions at conf 0.25, all right: the pothole set
    # labels only potholes, so the model's two other boxes on it are not scored there.
    assert combined_all.split()[1:5] == ["5", "4", "1.000", "0.800"]


def test_eval_with_the_models_class_thresholds(
    tuned_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_scene_dataset(tmp_path, ["D00", "D40", "D50"])

    code = main(["eval", "--model", str(tuned_model), "--data", str(tmp_path), "--json"])
    plain = json.loads(capsys.readouterr().out)
    code_tuned = main(
        [
            "eval",
            "--model",
            str(tuned_model),
            "--data",
            str(tmp_path),
            "--json",
            "--class-thresholds",
        ]
    )
    tuned = json.loads(capsys.readouterr().out)

    assert (code, code_tuned) == (0, 0)
    assert [row["conf_threshold"] for row in plain["classes"]] == [0.25, 0.25, 0.25]
    assert [row["conf_threshold"] for row in tuned["classes"]] == [0.95, 0.5, 0.1]
    assert tuned["class_thresholds"] is True
    # The D00 box (0.9) is under the model's own 0.95 for D00, so it no longer counts.
    assert [row["recall"] for row in tuned["classes"]] == [0.0, 1.0, 1.0]
    assert plain["overall"]["map50"] == tuned["overall"]["map50"]  # AP ignores thresholds


def test_eval_class_thresholds_need_a_model_that_has_them(
    raw_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_scene_dataset(tmp_path, ["D00", "D40", "D50"])

    code = main(["eval", "--model", str(raw_model), "--data", str(tmp_path), "--class-thresholds"])

    assert code == 2
    assert "no class_conf thresholds" in capsys.readouterr().err


def test_eval_names_flag_is_for_a_single_dataset(
    raw_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rdd, potholes = two_datasets(tmp_path)

    code = main(["eval", "--data", str(rdd), str(potholes), "--names", "Pothole"])

    assert code == 2
    assert "PATH:NAMES" in capsys.readouterr().err
