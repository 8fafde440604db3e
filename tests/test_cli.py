"""`roadhazard detect` on local files."""

from __future__ import annotations

import json
from pathlib import Path

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
