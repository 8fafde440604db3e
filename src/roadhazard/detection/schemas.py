"""The detection API's contract: parameters in, detections out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from roadhazard.detection.confidence import ConfSource, DefaultConfidence
from roadhazard.detection.engine import DetectionResult, ModelCard
from roadhazard.detection.postprocess import Thresholds
from roadhazard.errors import Unprocessable
from roadhazard.inputs import WHOLE_FLOATS_TOO, Integer, Number
from roadhazard.schemas import Problem
from roadhazard.taxonomy.schemas import HazardType

MAX_DET_LIMIT = 1000
# A bound for the document and for validation before the model is asked: ids are compared
# with numpy int64 arrays, and no detection model has ten thousand classes.
MAX_CLASS_ID = 9999
ClassId = Annotated[Integer, Field(ge=0, le=MAX_CLASS_ID), WHOLE_FLOATS_TOO]
MAX_CLASS_IDS = 1000  # ids in one request's `classes`
# In a form, `classes` is one text field of ids of at most four digits (MAX_CLASS_ID), "0,3"
# (inputs.form_values splits it).
CLASSES_FORM_FIELD: dict[str, Any] = {
    "type": "string",
    "pattern": r"^\s*[0-9]{1,4}\s*(,\s*[0-9]{1,4}\s*)*$",
    "description": "Comma-separated class ids, e.g. 0,3.",
}


class DetectParams(BaseModel):
    """Per-request overrides of the service's default thresholds."""

    model_config = ConfigDict(extra="forbid")

    conf: Number | None = Field(default=None, ge=0.0, le=1.0, description="Minimum confidence.")
    iou: Number | None = Field(default=None, ge=0.0, le=1.0, description="NMS IoU threshold.")
    max_det: Annotated[Integer, Field(ge=1, le=MAX_DET_LIMIT), WHOLE_FLOATS_TOO] | None = None
    classes: list[ClassId] | None = Field(
        default=None,
        max_length=MAX_CLASS_IDS,
        description="Only these class ids (see GET /v1/model); a form field takes '0,3'.",
    )

    def for_model(self, num_classes: int) -> DetectParams:
        """These parameters, if the loaded model has every class asked for; else a 422. The
        document bounds ids by MAX_CLASS_ID only, since it does not change with the model."""
        unknown = sorted({class_id for class_id in self.classes or () if class_id >= num_classes})
        if unknown:
            raise Unprocessable(
                "The detection parameters are invalid.",
                errors=[
                    {
                        "loc": ["body", "classes"],
                        "msg": f"the model has {num_classes} classes, ids 0 to "
                        f"{num_classes - 1}; unknown: {', '.join(map(str, unknown[:10]))}",
                    }
                ],
            )
        return self

    def thresholds(self, defaults: Thresholds) -> Thresholds:
        return defaults.overridden(
            conf=self.conf, iou=self.iou, max_det=self.max_det, classes=self.classes
        )


class BoxOut(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float


class HazardOut(BaseModel):
    """The taxonomy class a detection maps to (RDD codes: D00, D10, D20, D40, D50)."""

    code: str
    name: str
    severity: str

    @classmethod
    def of(cls, hazard: HazardType) -> HazardOut | None:
        if hazard.hazard is None:
            return None
        return cls(
            code=hazard.hazard.code, name=hazard.hazard.name, severity=hazard.hazard.severity
        )


class DetectionOut(BaseModel):
    class_id: int
    class_name: str
    confidence: float
    box: BoxOut
    hazard: HazardOut | None = Field(
        description="The taxonomy class, or null when the model's class maps to none."
    )


class ImageSizeOut(BaseModel):
    width: int
    height: int


class ModelRef(BaseModel):
    name: str
    sha256: str
    runtime: str
    input_size: list[int] = Field(description="[height, width] of the model input.")


class TimingsOut(BaseModel):
    decode: float
    preprocess: float
    inference: float
    postprocess: float
    total: float


class DetectResponse(BaseModel):
    detections: list[DetectionOut]
    image: ImageSizeOut
    model: ModelRef
    timings_ms: TimingsOut

    @classmethod
    def build(
        cls,
        result: DetectionResult,
        card: ModelCard,
        hazards: Sequence[HazardType],
        total_ms: float,
    ) -> DetectResponse:
        """`hazards`: the taxonomy class of each of `result`'s detections, in their order."""
        timings = result.timings
        return cls(
            detections=[
                DetectionOut(
                    class_id=d.class_id,
                    class_name=d.class_name,
                    confidence=round(d.confidence, 6),
                    box=BoxOut(x1=d.box.x1, y1=d.box.y1, x2=d.box.x2, y2=d.box.y2),
                    hazard=HazardOut.of(hazard),
                )
                for d, hazard in zip(result.detections, hazards, strict=True)
            ],
            image=ImageSizeOut(width=result.width, height=result.height),
            model=ModelRef(
                name=card.name,
                sha256=card.sha256,
                runtime=card.runtime,
                input_size=list(card.input_size),
            ),
            timings_ms=TimingsOut(
                decode=round(timings.decode_ms, 3),
                preprocess=round(timings.preprocess_ms, 3),
                inference=round(timings.inference_ms, 3),
                postprocess=round(timings.postprocess_ms, 3),
                total=round(total_ms, 3),
            ),
        )


class BatchItemOut(BaseModel):
    index: int
    result: DetectResponse | None = None
    error: Problem | None = None


class BatchResponse(BaseModel):
    results: list[BatchItemOut]
    succeeded: int
    failed: int


class ClassOut(BaseModel):
    id: int
    name: str
    hazard: HazardOut | None


class ThresholdsOut(BaseModel):
    conf: float = Field(
        description="Minimum confidence; with per-class thresholds, the lowest of them."
    )
    iou: float
    max_det: int


class ClassConfOut(BaseModel):
    class_id: int
    name: str
    hazard_code: str | None = Field(description="The taxonomy code, or null when unmapped.")
    conf: float


class ConfidenceOut(BaseModel):
    """The confidence threshold each class gets when a request sends no `conf`."""

    source: ConfSource = Field(
        description="model_metadata: the model's own per-class thresholds; setting: "
        "ROADHAZARD_CONF_THRESHOLD; builtin: 0.25. A request's `conf` overrides them all."
    )
    per_class: list[ClassConfOut]

    @classmethod
    def build(
        cls, card: ModelCard, confidence: DefaultConfidence, hazards: Mapping[int, HazardType]
    ) -> ConfidenceOut:
        """`hazards`: the taxonomy class of each of the card's classes, by class id."""
        rows = []
        for class_id, name in sorted(card.class_names.items()):
            hazard = hazards[class_id].hazard
            conf = confidence.per_class.get(class_id, confidence.fallback)
            code = hazard.code if hazard is not None else None
            rows.append(ClassConfOut(class_id=class_id, name=name, hazard_code=code, conf=conf))
        return cls(source=confidence.source, per_class=rows)


class ModelInfoResponse(BaseModel):
    name: str
    sha256: str
    runtime: str
    providers: list[str]
    layout: str
    input_size: list[int]
    dynamic_input: bool
    input_dtype: str
    classes: list[ClassOut]
    default_thresholds: ThresholdsOut
    default_confidence: ConfidenceOut

    @classmethod
    def build(
        cls,
        card: ModelCard,
        defaults: Thresholds,
        confidence: DefaultConfidence,
        hazards: Mapping[int, HazardType],
    ) -> ModelInfoResponse:
        """`hazards`: the taxonomy class of each of the card's classes, by class id."""
        return cls(
            name=card.name,
            sha256=card.sha256,
            runtime=card.runtime,
            providers=list(card.providers),
            layout=card.layout.value,
            input_size=list(card.input_size),
            dynamic_input=card.dynamic_input,
            input_dtype=card.input_dtype,
            classes=[
                ClassOut(id=i, name=n, hazard=HazardOut.of(hazards[i]))
                for i, n in sorted(card.class_names.items())
            ],
            default_thresholds=ThresholdsOut(
                conf=defaults.conf, iou=defaults.iou, max_det=defaults.max_det
            ),
            default_confidence=ConfidenceOut.build(card, confidence, hazards),
        )
