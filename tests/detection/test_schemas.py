"""The model card's response is built from plain values: the service resolves each class's
taxonomy class, the schema only renders what it is given."""

from __future__ import annotations

from roadhazard.detection.confidence import ConfSource, DefaultConfidence
from roadhazard.detection.engine import ModelCard
from roadhazard.detection.layouts import Layout
from roadhazard.detection.postprocess import Thresholds
from roadhazard.detection.schemas import ConfidenceOut, ModelInfoResponse
from roadhazard.taxonomy import resolve
from roadhazard.taxonomy.schemas import HazardType

CARD = ModelCard(
    name="tiny.onnx",
    sha256="ab" * 32,
    runtime="onnxruntime",
    providers=("CPUExecutionProvider",),
    layout=Layout.RAW,
    input_size=(320, 320),
    dynamic_input=False,
    input_dtype="float32",
    class_names={1: "cone", 0: "D40"},
)
CONFIDENCE = DefaultConfidence(ConfSource.MODEL, {0: 0.4}, 0.25)
# What DetectionService.class_hazards gives: class 1 maps to no taxonomy class.
HAZARDS = {0: resolve("D40"), 1: HazardType(model_name="cone", hazard=None)}


def test_the_model_card_renders_the_hazards_it_is_given() -> None:
    info = ModelInfoResponse.build(
        CARD, Thresholds(conf=0.25, iou=0.7, max_det=300), CONFIDENCE, HAZARDS
    )

    pothole = {"code": "D40", "name": "Pothole", "severity": "high"}
    assert [(c.id, c.name, c.hazard and c.hazard.model_dump()) for c in info.classes] == [
        (0, "D40", pothole),
        (1, "cone", None),
    ]
    assert info.default_confidence == ConfidenceOut.build(CARD, CONFIDENCE, HAZARDS)
    assert [
        (row.class_id, row.name, row.hazard_code, row.conf)
        for row in info.default_confidence.per_class
    ] == [(0, "D40", "D40", 0.4), (1, "cone", None, 0.25)]
    assert info.default_confidence.source is ConfSource.MODEL
