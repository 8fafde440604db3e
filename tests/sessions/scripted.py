"""A detector whose answer each frame picks: the frame's colour names a scene the test set.

Picking by image content, not by call order, keeps answers right when frames run
concurrently in the worker pool, or in two app instances sharing one backend.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from roadhazard.detection.engine import Detector
from roadhazard.detection.layouts import Dim
from roadhazard.detection.runtime import RuntimeName
from tests.factories import raw_head, ultralytics_metadata

NAMES = ["D00", "D40", "D50"]
IMAGE_SIZE = (640, 480)  # width, height; on the 320x320 canvas: scale 0.5, 40 px top padding
ANCHORS = 8


@dataclass(frozen=True)
class Thing:
    """One detection in original pixels."""

    class_id: int
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


def frame_image(scene: int) -> bytes:
    """A lossless single-colour frame whose red channel is the scene number (0-255)."""
    pixels = np.zeros((IMAGE_SIZE[1], IMAGE_SIZE[0], 3), dtype=np.uint8)
    pixels[..., 0] = scene
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _head(things: Sequence[Thing]) -> npt.NDArray[np.float32]:
    boxes: list[tuple[float, float, float, float]] = []
    scores: list[list[float]] = []
    for thing in things:
        x1, y1 = thing.x1 * 0.5, thing.y1 * 0.5 + 40
        x2, y2 = thing.x2 * 0.5, thing.y2 * 0.5 + 40
        boxes.append(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1))
        row = [0.0] * len(NAMES)
        row[thing.class_id] = thing.confidence
        scores.append(row)
    while len(boxes) < ANCHORS:
        boxes.append((0.0, 0.0, 0.0, 0.0))
        scores.append([0.0] * len(NAMES))
    return raw_head(boxes, scores)


class ScriptedBackend:
    runtime: RuntimeName = "onnxruntime"

    def __init__(self, scenes: Mapping[int, Sequence[Thing]] | None = None) -> None:
        self.providers = ["TestScript"]
        self.input_shape: tuple[Dim, ...] = (1, 3, 320, 320)
        self.input_dtype: np.dtype[Any] = np.dtype(np.float32)
        self.output_shape: tuple[Dim, ...] = (1, 4 + len(NAMES), ANCHORS)
        self.metadata = ultralytics_metadata(NAMES)
        self._scenes: dict[int, npt.NDArray[np.float32]] = {}
        for number, things in (scenes or {}).items():
            self.set_scene(number, things)

    def set_scene(self, number: int, things: Sequence[Thing]) -> None:
        self._scenes[number] = _head(things)

    def run(self, tensor: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        centre = float(np.asarray(tensor)[0, 0, 160, 160])
        scene = round(centre * 255)
        return self._scenes.get(scene, _head([]))

    def detector(self) -> Detector:
        return Detector.from_backend(self, name="scripted", sha256="0" * 64, default_imgsz=320)
