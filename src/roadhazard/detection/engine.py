"""The synchronous detection pipeline: bytes -> decoded image -> tensor -> detections.

Everything here is CPU work. The service runs it in the inference pool; the CLI calls it
directly.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roadhazard.detection.confidence import parse_class_conf
from roadhazard.detection.layouts import (
    Layout,
    ModelFormatError,
    detect_layout,
    infer_num_classes,
    parse_metadata,
)
from roadhazard.detection.postprocess import Thresholds, decode, to_original_pixels
from roadhazard.detection.preprocess import decode_image, letterbox, to_tensor
from roadhazard.detection.runtime import InferenceBackend, RuntimeName, load_backend


@dataclass(frozen=True)
class ModelCard:
    name: str
    sha256: str
    runtime: RuntimeName
    providers: tuple[str, ...]
    layout: Layout
    input_size: tuple[int, int]
    dynamic_input: bool
    input_dtype: str
    class_names: dict[int, str]
    class_conf: dict[int, float] = field(default_factory=dict)
    """The model's own per-class default thresholds (``class_conf`` metadata), if any."""

    @property
    def num_classes(self) -> int:
        return max(self.class_names) + 1 if self.class_names else 0


@dataclass(frozen=True)
class Box:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Detection:
    class_id: int
    class_name: str
    confidence: float
    box: Box


@dataclass(frozen=True)
class StageTimings:
    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float


@dataclass(frozen=True)
class DetectionResult:
    detections: list[Detection]
    width: int
    height: int
    timings: StageTimings


class Detector:
    """A loaded model with its decoding rules. Safe to call from several threads."""

    def __init__(self, backend: InferenceBackend, card: ModelCard) -> None:
        self.backend = backend
        self.card = card

    @classmethod
    def load(
        cls,
        path: Path,
        runtime: RuntimeName,
        *,
        threads: int,
        concurrency: int,
        default_imgsz: int,
        class_names: Sequence[str] | None = None,
    ) -> Detector:
        backend = load_backend(path, runtime, threads=threads, concurrency=concurrency)
        return cls.from_backend(
            backend,
            name=path.name,
            sha256=model_sha256(path),
            default_imgsz=default_imgsz,
            class_names=class_names,
        )

    @classmethod
    def from_backend(
        cls,
        backend: InferenceBackend,
        *,
        name: str,
        sha256: str,
        default_imgsz: int,
        class_names: Sequence[str] | None = None,
    ) -> Detector:
        metadata = parse_metadata(backend.metadata)
        if metadata.task not in (None, "detect"):
            raise ModelFormatError(f"the model's task is {metadata.task!r}; only 'detect' works")
        names = dict(enumerate(class_names)) if class_names else metadata.names
        num_classes = max(names) + 1 if names else infer_num_classes(backend.output_shape, metadata)
        layout = detect_layout(backend.output_shape, metadata, num_classes)
        input_size, dynamic = _input_size(backend, metadata.imgsz, default_imgsz)
        card = ModelCard(
            name=name,
            sha256=sha256,
            runtime=backend.runtime,
            providers=tuple(backend.providers),
            layout=layout,
            input_size=input_size,
            dynamic_input=dynamic,
            input_dtype=str(backend.input_dtype),
            class_names=names or {i: f"class_{i}" for i in range(num_classes)},
            class_conf=parse_class_conf(metadata.class_conf, num_classes),
        )
        return cls(backend, card)

    def warm_up(self, runs: int) -> None:
        blank = np.full((*self.card.input_size, 3), 114, dtype=np.uint8)
        for _ in range(runs):
            self.backend.run(to_tensor(blank, self.backend.input_dtype))

    def detect_bytes(self, data: bytes, thresholds: Thresholds, max_pixels: int) -> DetectionResult:
        started = time.perf_counter()
        image = decode_image(data, max_pixels)
        decode_ms = (time.perf_counter() - started) * 1000
        result = self.detect_array(image, thresholds)
        timings = StageTimings(
            decode_ms,
            result.timings.preprocess_ms,
            result.timings.inference_ms,
            result.timings.postprocess_ms,
        )
        return DetectionResult(result.detections, result.width, result.height, timings)

    def detect_array(self, image: npt.NDArray[np.uint8], thresholds: Thresholds) -> DetectionResult:
        """Detects on an upright RGB uint8 array of shape (H, W, 3)."""
        t0 = time.perf_counter()
        canvas, placement = letterbox(image, self.card.input_size)
        tensor = to_tensor(canvas, self.backend.input_dtype)
        t1 = time.perf_counter()
        output = self.backend.run(tensor)
        t2 = time.perf_counter()
        found = to_original_pixels(decode(output, self.card.layout, thresholds), placement)
        detections = [
            Detection(
                class_id=int(class_id),
                class_name=self.class_name(int(class_id)),
                confidence=float(score),
                box=Box(*(float(v) for v in box)),
            )
            for box, score, class_id in zip(found.boxes, found.scores, found.class_ids, strict=True)
        ]
        t3 = time.perf_counter()
        timings = StageTimings(0.0, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000)
        return DetectionResult(detections, placement.width, placement.height, timings)

    def class_name(self, class_id: int) -> str:
        return self.card.class_names.get(class_id, f"class_{class_id}")


def _input_size(
    backend: InferenceBackend, metadata_imgsz: tuple[int, int] | None, default_imgsz: int
) -> tuple[tuple[int, int], bool]:
    """A fixed input shape wins; a dynamic one uses the exported imgsz, else the setting."""
    shape = backend.input_shape
    if len(shape) != 4:
        raise ModelFormatError(f"expected an NCHW image input, got shape {list(shape)}")
    height, width = shape[2], shape[3]
    if isinstance(height, int) and isinstance(width, int):
        return (height, width), False
    return metadata_imgsz or (default_imgsz, default_imgsz), True


def model_sha256(path: Path) -> str:
    """Hashes the model file, and the weights beside an OpenVINO .xml."""
    digest = hashlib.sha256()
    files = [path]
    if path.suffix.lower() == ".xml" and path.with_suffix(".bin").is_file():
        files.append(path.with_suffix(".bin"))
    for file in files:
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
