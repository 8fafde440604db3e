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
