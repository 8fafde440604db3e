"""The full pipeline on real ONNX graphs with known outputs, in each Ultralytics layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto

from roadhazard.detection.engine import DetectionResult, Detector
from roadhazard.detection.layouts import Layout, ModelFormatError
from roadhazard.detection.postprocess import Thresholds
from tests import scene
from tests.factories import build_constant_model, encode_image, ultralytics_metadata

DEFAULTS = Thresholds(conf=0.25, iou=0.7, max_det=300)


def load(path: Path, **kwargs: object) -> Detector:
    return Detector.load(
        path,
        "onnxruntime",
        threads=1,
        concurrency=1,
        default_imgsz=640,
        **kwargs,  # type: ignore[arg-type]
    )


Row = tuple[str, float, float, float, float, float]


def as_tuples(result: DetectionResult) -> list[Row]:
    """Rounded to 4 decimals: float32 scores are not exactly 0.9, but the boxes are exact."""
    return [
        (
            d.class_name,
            *(round(v, 4) for v in (d.confidence, d.box.x1, d.box.y1, d.box.x2, d.box.y2)),
        )  # type: ignore[misc]
        for d in result.detections
    ]


def expected() -> list[Row]:
    return [(n, *(round(float(v), 4) for v in rest)) for n, *rest in scene.EXPECTED]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fixture", "layout"),
    [("raw_model", Layout.RAW), ("end2end_model", Layout.END2END), ("yolov5_model", Layout.YOLOV5)],
)
def test_each_layout_decodes_to_the_same_known_boxes(
    fixture: str, layout: Layout, request: pytest.FixtureRequest
) -> None:
    detector = load(request.getfixturevalue(fixture))

    result = detector.detect_bytes(encode_image(scene.IMAGE_SIZE), DEFAULTS, 10**8)

    assert detector.card.layout is layout
    assert (result.width, result.height) == scene.IMAGE_SIZE
    assert as_tuples(result) == expected()


def test_model_card_reads_ultralytics_metadata(raw_model: Path) -> None:
    card = load(raw_model).card

    assert card.class_names == {0: "D00", 1: "D40", 2: "D50"}
    assert card.input_size == (320, 320)
    assert card.dynamic_input is False
    assert card.runtime == "onnxruntime"
    assert len(card.sha256) == 64


def test_class_names_setting_overrides_the_model(raw_model: Path) -> None:
    detector = load(raw_model, class_names=["crack", "pothole", "manhole"])

    result = detector.detect_bytes(encode_image(scene.IMAGE_SIZE), DEFAULTS, 10**8)

    assert [d.class_name for d in result.detections] == ["crack", "pothole", "manhole"]


def test_thresholds_filter_by_confidence_class_and_count(raw_model: Path) -> None:
    detector = load(raw_model)
    image = encode_image(scene.IMAGE_SIZE)

    strict = detector.detect_bytes(image, Thresholds(conf=0.65, iou=0.7, max_det=300), 10**8)
    only_d50 = detector.detect_bytes(
        image, Thresholds(conf=0.25, iou=0.7, max_det=300, classes=frozenset({2})), 10**8
    )
    top_one = detector.detect_bytes(image, Thresholds(conf=0.25, iou=0.7, max_det=1), 10**8)
    loose_iou = detector.detect_bytes(image, Thresholds(conf=0.25, iou=0.95, max_det=300), 10**8)

    assert [d.class_name for d in strict.detections] == ["D00", "D40"]
    assert [d.class_name for d in only_d50.detections] == ["D50"]
    assert [d.confidence for d in top_one.detections] == pytest.approx([0.9])
    # At IoU 0.95 the overlapping same-class box is no longer suppressed.
    assert [d.confidence for d in loose_iou.detections] == pytest.approx([0.9, 0.8, 0.7, 0.6])


def test_dynamic_input_uses_the_exported_imgsz(tmp_path: Path) -> None:
    path = build_constant_model(
        tmp_path / "dynamic.onnx",
        scene.raw_output(),
        metadata=scene.raw_metadata(),
        dynamic_input=True,
    )
    detector = load(path)

    result = detector.detect_bytes(encode_image(scene.IMAGE_SIZE), DEFAULTS, 10**8)

    assert detector.card.dynamic_input is True
    assert detector.card.input_size == (320, 320)
    assert as_tuples(result) == expected()


def test_dynamic_input_without_imgsz_falls_back_to_the_setting(tmp_path: Path) -> None:
    metadata = {k: v for k, v in scene.raw_metadata().items() if k != "imgsz"}
    path = build_constant_model(
        tmp_path / "dynamic.onnx", scene.raw_output(), metadata=metadata, dynamic_input=True
    )

    assert load(path).card.input_size == (640, 640)


def test_fp16_input_models_get_fp16_tensors(tmp_path: Path) -> None:
    path = build_constant_model(
        tmp_path / "half.onnx",
        scene.raw_output(),
        metadata=scene.raw_metadata(),
        input_dtype=TensorProto.FLOAT16,
    )
    detector = load(path)

    result = detector.detect_bytes(encode_image(scene.IMAGE_SIZE), DEFAULTS, 10**8)

    assert detector.card.input_dtype == "float16"
    assert as_tuples(result) == expected()


def test_model_without_names_gets_numbered_classes(tmp_path: Path) -> None:
    metadata = {k: v for k, v in scene.raw_metadata().items() if k != "names"}
    # Without names the class count comes from the shape, which needs realistic anchor counts.
    many_anchors = np.zeros((1, 7, 2100), dtype=np.float32)
    many_anchors[:, :, :6] = scene.raw_output()
    path = build_constant_model(tmp_path / "anon.onnx", many_anchors, metadata=metadata)

    card = load(path).card

    assert card.class_names == {0: "class_0", 1: "class_1", 2: "class_2"}
    assert card.layout is Layout.RAW


def test_unrecognised_output_is_a_model_format_error(tmp_path: Path) -> None:
    weird = np.zeros((1, 7, 9, 2), dtype=np.float32)
    path = build_constant_model(tmp_path / "weird.onnx", weird, metadata=scene.raw_metadata())

    with pytest.raises(ModelFormatError, match="3-D detection output"):
        load(path)


def test_non_detection_task_is_refused(tmp_path: Path) -> None:
    metadata = {**ultralytics_metadata(scene.NAMES), "task": "segment"}
    path = build_constant_model(tmp_path / "seg.onnx", scene.raw_output(), metadata=metadata)

    with pytest.raises(ModelFormatError, match="segment"):
        load(path)


def test_missing_and_corrupt_files_are_model_format_errors(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not a protobuf")

    with pytest.raises(ModelFormatError, match="not found"):
        load(tmp_path / "absent.onnx")
    with pytest.raises(ModelFormatError, match="cannot load"):
        load(corrupt)


def test_exif_rotation_is_applied_before_detection(raw_model: Path) -> None:
    # Orientation 6 means "rotate 90 degrees clockwise to view": 640x480 stored, 480x640 shown.
    rotated = encode_image((640, 480), exif_orientation=6)

    result = load(raw_model).detect_bytes(rotated, DEFAULTS, 10**8)

    assert (result.width, result.height) == (480, 640)
    # On a portrait image the padding is on the left: gain 0.5, 40 px left, none on top.
    first = result.detections[0].box
    assert (first.x1, first.y1, first.x2, first.y2) == pytest.approx((200.0, 300.0, 280.0, 340.0))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_common_formats_decode(raw_model: Path, fmt: str) -> None:
    result = load(raw_model).detect_bytes(encode_image(scene.IMAGE_SIZE, fmt), DEFAULTS, 10**8)

    assert (result.width, result.height) == scene.IMAGE_SIZE
    assert len(result.detections) == 3


def test_openvino_runtime_runs_onnx_files_with_the_same_results(raw_model: Path) -> None:
    pytest.importorskip("openvino", reason="OpenVINO is an optional extra")
    detector = Detector.load(raw_model, "openvino", threads=1, concurrency=2, default_imgsz=640)

    result = detector.detect_bytes(encode_image(scene.IMAGE_SIZE), DEFAULTS, 10**8)

    assert detector.card.runtime == "openvino"
    assert detector.card.class_names == {0: "D00", 1: "D40", 2: "D50"}
    assert as_tuples(result) == expected()
