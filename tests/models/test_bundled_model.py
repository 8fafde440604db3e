"""The shipped demo model must look exactly like an Ultralytics raw YOLOv8 export."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

MODEL = (
    Path(__file__).resolve().parents[2] / "src" / "roadhazard" / "models" / "roadhazard-demo.onnx"
)


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    if not MODEL.exists():
        pytest.fail(f"bundled model missing: {MODEL}")
    return ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])


def test_io_has_the_ultralytics_raw_layout(session: ort.InferenceSession) -> None:
    (image_input,) = session.get_inputs()
    (output,) = session.get_outputs()
    assert image_input.name == "images"
    assert image_input.shape == [1, 3, 320, 320]
    assert image_input.type == "tensor(float)"
    assert output.name == "output0"
    assert output.shape == [1, 9, 2100]  # cx cy w h + 5 classes, 40² + 20² + 10² cells


def test_metadata_is_written_the_ultralytics_way(session: ort.InferenceSession) -> None:
    meta = session.get_modelmeta().custom_metadata_map
    assert ast.literal_eval(meta["names"]) == {0: "D00", 1: "D10", 2: "D20", 3: "D40", 4: "D50"}
    assert ast.literal_eval(meta["imgsz"]) == [320, 320]
    assert ast.literal_eval(meta["stride"]) == 32
    assert meta["task"] == "detect"
    assert ast.literal_eval(meta["end2end"]) is False
    args = ast.literal_eval(meta["args"])
    assert args["nms"] is False
    assert args["dynamic"] is False
    for key in ("description", "author", "version", "date"):
        assert meta[key]


def test_output_is_boxes_in_input_pixels_then_probabilities(
    session: ort.InferenceSession,
) -> None:
    image = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    (output,) = session.run(["output0"], {"images": image})
    assert output.shape == (1, 9, 2100)
    assert np.isfinite(output).all()
    assert ((output[0, 4:] >= 0) & (output[0, 4:] <= 1)).all()
    assert (output[0, 2:4] >= 0).all()
    # The first cell of the stride-8 grid sits at (4, 4): boxes are centred near it.
    assert abs(float(output[0, 0, 0]) - 4) < 64


def test_file_is_small_and_uses_an_old_enough_opset() -> None:
    onnx = pytest.importorskip("onnx")
    assert MODEL.stat().st_size < 15 * 1024 * 1024
    model = onnx.load(str(MODEL), load_external_data=False)
    default_domain = [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")]
    assert default_domain
    assert default_domain[0] <= 17
