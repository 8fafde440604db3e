"""The shipped model must look exactly like an Ultralytics raw YOLOv8 export."""

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


def image_size(session: ort.InferenceSession) -> int:
    size = ast.literal_eval(session.get_modelmeta().custom_metadata_map["imgsz"])
    assert size[0] == size[1]
    return int(size[0])


def cells(size: int) -> int:
    """Grid cells of the three strides, as Ultralytics' raw head lists them."""
    return sum((size // stride) ** 2 for stride in (8, 16, 32))


def test_io_has_the_ultralytics_raw_layout(session: ort.InferenceSession) -> None:
    (image_input,) = session.get_inputs()
    (output,) = session.get_outputs()
    size = image_size(session)
    assert size % 32 == 0
    assert image_input.name == "images"
    assert image_input.shape == [1, 3, size, size]
    assert image_input.type == "tensor(float)"
    assert output.name == "output0"
    assert output.shape == [1, 9, cells(size)]  # cx cy w h + 5 classes per cell


def test_metadata_is_written_the_ultralytics_way(session: ort.InferenceSession) -> None:
    meta = session.get_modelmeta().custom_metadata_map
    assert ast.literal_eval(meta["names"]) == {0: "D00", 1: "D10", 2: "D20", 3: "D40", 4: "D50"}
    assert ast.literal_eval(meta["imgsz"]) == [image_size(session)] * 2
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
    size = image_size(session)
    image = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    (output,) = session.run(["output0"], {"images": image})
    assert output.shape == (1, 9, cells(size))
    assert np.isfinite(output).all()
    assert ((output[0, 4:] >= 0) & (output[0, 4:] <= 1)).all()
    assert (output[0, 2:4] >= 0).all()
    # The first cell of the stride-8 grid sits at (4, 4): boxes are centred near it.
    assert abs(float(output[0, 0, 0]) - 4) < 64


def test_per_class_default_thresholds_cover_every_class(
    session: ort.InferenceSession,
) -> None:
    """The F1-best thresholds chosen on the validation splits travel in the metadata."""
    class_conf = ast.literal_eval(session.get_modelmeta().custom_metadata_map["class_conf"])
    assert sorted(class_conf) == [0, 1, 2, 3, 4]
    assert all(0.0 < value < 1.0 for value in class_conf.values())


def test_file_is_small_and_uses_an_old_enough_opset() -> None:
    onnx = pytest.importorskip("onnx")
    assert MODEL.stat().st_size < 25 * 1024 * 1024
    model = onnx.load(str(MODEL), load_external_data=False)
    default_domain = [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")]
    assert default_domain
    assert default_domain[0] <= 17
