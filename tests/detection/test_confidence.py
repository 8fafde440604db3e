"""Per-class default thresholds: the `class_conf` metadata a model carries, and precedence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from structlog.testing import capture_logs

from roadhazard.detection import confidence
from roadhazard.detection.confidence import (
    ConfSource,
    parse_class_conf,
    resolve_default_confidence,
)
from roadhazard.detection.engine import Detector
from roadhazard.detection.postprocess import Thresholds
from tests import scene
from tests.factories import build_constant_model, encode_image


@pytest.fixture(autouse=True)
def _loggers_captured(uncached_loggers: Callable[..., None]) -> None:
    uncached_loggers(confidence)


def model_with(tmp_path: Path, class_conf: str) -> Path:
    """The known raw scene, with `class_conf` written as Ultralytics writes metadata."""
    metadata = {**scene.raw_metadata(), "class_conf": class_conf}
    return build_constant_model(tmp_path / "tuned.onnx", scene.raw_output(), metadata=metadata)


def load(path: Path) -> Detector:
    return Detector.load(path, "onnxruntime", threads=1, concurrency=1, default_imgsz=640)


def detected(detector: Detector, thresholds: Thresholds) -> list[tuple[str, float]]:
    result = detector.detect_bytes(encode_image(scene.IMAGE_SIZE), thresholds, 10**8)
    return [(d.class_name, round(d.confidence, 4)) for d in result.detections]


def test_a_models_class_conf_metadata_is_read_into_its_card(tuned_model: Path) -> None:
    card = load(tuned_model).card

    assert card.class_conf == {0: 0.95, 1: 0.5, 2: 0.1}


def test_the_models_thresholds_apply_per_class(tuned_model: Path) -> None:
    detector = load(tuned_model)
    defaults = resolve_default_confidence(None, detector.card.class_conf, 3)

    # D00 at 0.9 is under its 0.95; D40 (0.7) and D50 (0.6) clear theirs.
    assert detected(detector, defaults.thresholds(0.7, 300)) == [("D40", 0.7), ("D50", 0.6)]


def test_a_low_class_threshold_keeps_boxes_under_the_builtin_default(tmp_path: Path) -> None:
    detector = load(model_with(tmp_path, "{0: 0.1}"))
    defaults = resolve_default_confidence(None, detector.card.class_conf, 3)

    # The 0.2 D00 anchor, under 0.25, survives; classes 1 and 2 keep the built-in 0.25.
    assert detected(detector, defaults.thresholds(0.7, 300)) == [
        ("D00", 0.9),
        ("D40", 0.7),
        ("D50", 0.6),
        ("D00", 0.2),
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{0: 0.3, 3: 0.2}", "names class 3; the model has 3 classes"),
        ("{-1: 0.3}", "names class -1"),
        ("{0: 1.5}", "outside [0, 1]"),
        ("{0: -0.1}", "outside [0, 1]"),
        ("{0: 'high'}", "is not a number"),
        ("{0: True}", "is not a number"),
        ("{0: float('nan')}", "must be a dict"),  # not a literal: literal_eval refuses calls
        ("{'D00': 0.3}", "is not a class id"),
        ("[0.3, 0.2, 0.1]", "must be a dict"),
        ("{0: 0.3", "must be a dict"),
    ],
)
def test_malformed_class_conf_is_ignored_with_a_warning(
    tmp_path: Path, raw: str, reason: str
) -> None:
    with capture_logs() as logs:
        detector = load(model_with(tmp_path, raw))

    assert detector.card.class_conf == {}
    warnings = [e for e in logs if e["event"] == "model_class_conf_ignored"]
    assert len(warnings) == 1
    assert reason in warnings[0]["reason"]
    # The model still works, exactly as one without the key.
    defaults = resolve_default_confidence(None, detector.card.class_conf, 3)
    assert defaults.source is ConfSource.BUILTIN
    assert len(detected(detector, defaults.thresholds(0.7, 300))) == 3


def test_nan_thresholds_from_a_yaml_mapping_are_refused() -> None:
    with capture_logs() as logs:
        assert parse_class_conf({0: float("nan")}, 3) == {}

    assert "not a number" in logs[0]["reason"]


def test_precedence_is_setting_then_metadata_then_builtin() -> None:
    metadata = {0: 0.4, 2: 0.1}

    from_setting = resolve_default_confidence(0.6, metadata, 3)
    from_model = resolve_default_confidence(None, metadata, 3)
    builtin = resolve_default_confidence(None, {}, 3)

    assert (from_setting.source, from_setting.per_class) == (
        ConfSource.SETTING,
        {0: 0.6, 1: 0.6, 2: 0.6},
    )
    assert from_setting.thresholds(0.7, 300) == Thresholds(conf=0.6, iou=0.7, max_det=300)
    assert (from_model.source, from_model.per_class) == (
        ConfSource.MODEL,
        {0: 0.4, 1: 0.25, 2: 0.1},
    )
    assert from_model.thresholds(0.7, 300) == Thresholds(
        conf=0.1, iou=0.7, max_det=300, class_conf=(0.4, 0.25, 0.1)
    )
    assert builtin.source is ConfSource.BUILTIN
    assert builtin.thresholds(0.7, 300) == Thresholds(conf=0.25, iou=0.7, max_det=300)


def test_a_request_conf_replaces_the_per_class_thresholds() -> None:
    defaults = Thresholds.per_class([0.4, 0.25, 0.1], iou=0.7, max_det=300)

    assert defaults.overridden(conf=0.5) == Thresholds(conf=0.5, iou=0.7, max_det=300)
    # Other overrides keep the per-class table.
    assert defaults.overridden(iou=0.5, max_det=3).class_conf == (0.4, 0.25, 0.1)


def test_openvino_ir_reads_class_conf_from_its_metadata_yaml(tmp_path: Path) -> None:
    ov = pytest.importorskip("openvino", reason="OpenVINO is an optional extra")
    onnx_path = build_constant_model(
        tmp_path / "source.onnx", scene.raw_output(), metadata=scene.raw_metadata()
    )
    ir_dir = tmp_path / "tuned_openvino_model"
    ir_dir.mkdir()
    # fp32 weights: the IR's default fp16 compression would shift the known scores.
    ov.save_model(
        ov.convert_model(str(onnx_path)), str(ir_dir / "tuned.xml"), compress_to_fp16=False
    )
    # Ultralytics' IR export writes its metadata as YAML, so the table is a mapping there.
    metadata = {"names": dict(enumerate(scene.NAMES)), "imgsz": [320, 320], "task": "detect"}
    metadata["class_conf"] = {0: 0.95, 1: 0.5, 2: 0.1}
    (ir_dir / "metadata.yaml").write_text(yaml.safe_dump(metadata))

    detector = Detector.load(
        ir_dir / "tuned.xml", "openvino", threads=1, concurrency=1, default_imgsz=640
    )

    assert detector.card.class_conf == {0: 0.95, 1: 0.5, 2: 0.1}
    defaults = resolve_default_confidence(None, detector.card.class_conf, 3)
    assert detected(detector, defaults.thresholds(0.7, 300)) == [("D40", 0.7), ("D50", 0.6)]
