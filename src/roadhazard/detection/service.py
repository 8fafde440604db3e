"""The detection service: model lifecycle (warming -> ready | error) and detection off the loop."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Mapping
from functools import partial

import structlog

from roadhazard.checks import CheckResult, CheckStatus
from roadhazard.detection.confidence import DefaultConfidence, resolve_default_confidence
from roadhazard.detection.engine import DetectionResult, Detector, ModelCard
from roadhazard.detection.layouts import ModelFormatError
from roadhazard.detection.pool import InferencePool
from roadhazard.detection.postprocess import Thresholds
from roadhazard.detection.preprocess import ImageDecodeError
from roadhazard.errors import (
    BadRequest,
    ContentTooLarge,
    RoadhazardError,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from roadhazard.observability import metrics
from roadhazard.taxonomy.schemas import HazardType
from roadhazard.taxonomy.service import resolve_model_classes

log = structlog.get_logger(__name__)

DetectorLoader = Callable[[], Detector]


class ModelStatus(enum.StrEnum):
    WARMING = "warming"
    READY = "ready"
    ERROR = "error"


_DECODE_ERRORS: dict[str, type[RoadhazardError]] = {
    "empty": BadRequest,
    "corrupt": BadRequest,
    "not_image": UnsupportedMediaType,
    "too_many_pixels": ContentTooLarge,
}


class DetectionService:
    def __init__(
        self,
        *,
        loader: DetectorLoader,
        pool: InferencePool,
        conf_setting: float | None,
        iou: float,
        max_det: int,
        max_image_pixels: int,
        warmup_runs: int,
        retry_after_s: int,
        class_map: Mapping[str, str] | None = None,
    ) -> None:
        self._loader = loader
        self._pool = pool
        self._conf_setting = conf_setting
        self._iou, self._max_det = iou, max_det
        # Until the model is loaded its metadata is unknown; nothing detects before then.
        self._use_defaults(resolve_default_confidence(conf_setting, {}, 0))
        self._max_image_pixels = max_image_pixels
        self._warmup_runs = warmup_runs
        self._retry_after_s = retry_after_s
        self._class_map = dict(class_map or {})
        self._detector: Detector | None = None
        self._hazards: dict[int, HazardType] = {}
        self._load_task: asyncio.Task[None] | None = None
        self.status = ModelStatus.WARMING
        metrics.set_model_status(self.status)
        self.error_reason: str | None = None

    def start(self) -> None:
        """Loads and warms the model in the background; the service answers meanwhile."""
        self._load_task = asyncio.create_task(self._load(), name="model-load")

    async def wait_loaded(self) -> None:
        if self._load_task is not None:
            await asyncio.shield(self._load_task)

    async def _load(self) -> None:
        try:
            detector = await asyncio.to_thread(self._load_and_warm)
        except ModelFormatError as exc:
            self._fail(str(exc))
            return
        except Exception:  # anything else is a bug or a broken install, so keep the traceback
            log.exception("model_load_crashed")
            self._fail("unexpected error while loading the model; see the service log")
            return
        self._hazards = resolve_model_classes(detector.card.class_names, self._class_map)
        card = detector.card
        self._use_defaults(
            resolve_default_confidence(self._conf_setting, card.class_conf, card.num_classes)
        )
        self._detector = detector
        self.status = ModelStatus.READY
        metrics.set_model_status(self.status)
        log.info(
            "model_ready",
            model=card.name,
            runtime=card.runtime,
            layout=card.layout.value,
            input_size=list(card.input_size),
            classes=len(card.class_names),
            conf_source=self.default_confidence.source.value,
        )

    def _use_defaults(self, confidence: DefaultConfidence) -> None:
        self.default_confidence = confidence
        # Built once: it carries the per-class array post-processing indexes for every image.
        self.default_thresholds: Thresholds = confidence.thresholds(self._iou, self._max_det)

    def _load_and_warm(self) -> Detector:
        detector = self._loader()
        detector.warm_up(self._warmup_runs)
        return detector

    def _fail(self, reason: str) -> None:
        self.status = ModelStatus.ERROR
        metrics.set_model_status(self.status)
        self.error_reason = reason
        log.error("model_load_failed", reason=reason)

    @property
    def card(self) -> ModelCard:
        return self._ready_detector().card

    def hazard_for(self, class_id: int) -> HazardType:
        """The taxonomy class a model class maps to; an unmapped class keeps its own name."""
        hazard = self._hazards.get(class_id)
        if hazard is None:
            return HazardType(model_name=self._ready_detector().class_name(class_id), hazard=None)
        return hazard

    def class_hazards(self) -> dict[int, HazardType]:
        """The taxonomy class of each of the model's classes, by class id."""
        return {class_id: self.hazard_for(class_id) for class_id in self.card.class_names}

    @property
    def pool(self) -> InferencePool:
        return self._pool

    def _ready_detector(self) -> Detector:
        if self._detector is not None:
            return self._detector
        if self.status is ModelStatus.ERROR:
            raise ServiceUnavailable(
                "The detection model failed to load; an operator must fix the configuration.",
                retry_after=max(self._retry_after_s, 30),
            )
        raise ServiceUnavailable(
            "The detection model is still warming up.", retry_after=self._retry_after_s
        )

    async def detect(self, image: bytes, thresholds: Thresholds) -> DetectionResult:
        detector = self._ready_detector()
        job = partial(detector.detect_bytes, image, thresholds, self._max_image_pixels)
        try:
            result = await self._pool.run(job)
        except ImageDecodeError as exc:
            raise _DECODE_ERRORS[exc.reason](str(exc)) from None
        metrics.observe_stage_timings(result.timings)
        return result

    async def readiness_check(self) -> CheckResult:
        if self._detector is not None:
            card = self._detector.card
            return CheckResult(
                status=CheckStatus.HEALTHY, detail=f"{card.name} loaded on {card.runtime}"
            )
        if self.status is ModelStatus.ERROR:
            return CheckResult(status=CheckStatus.UNHEALTHY, detail=self.error_reason or "error")
        return CheckResult(status=CheckStatus.UNHEALTHY, detail="the model is warming up")

    async def aclose(self) -> None:
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self._pool.shutdown()
