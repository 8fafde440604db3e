"""Which Ultralytics export layout a model has, read from its metadata and output shape."""

from __future__ import annotations

import ast
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Dim = int | str | None


class Layout(enum.StrEnum):
    RAW = "raw"
    """(1, 4+nc, N): cx, cy, w, h and one score per class; NMS is ours (YOLOv8/11/12)."""
    END2END = "end2end"
    """(1, K, 6): x1, y1, x2, y2, score, class; already suppressed (YOLOv10, YOLO26, nms=True)."""
    YOLOV5 = "yolov5"
    """(1, N, 5+nc): cx, cy, w, h, objectness and one score per class; NMS is ours."""


class ModelFormatError(ValueError):
    """The model file is not an Ultralytics detection export we can decode."""


@dataclass(frozen=True)
class ModelMetadata:
    """What Ultralytics writes beside the weights, parsed into types."""

    names: dict[int, str]
    imgsz: tuple[int, int] | None
    stride: int
    end2end: bool
    nms_in_graph: bool
    task: str | None
    class_conf: object = None
    """``class_conf`` as written (literal-evaluated); validated once the class count is known."""


def parse_metadata(raw: Mapping[str, Any]) -> ModelMetadata:
    """Accepts ONNX metadata_props (Python-literal strings) or a parsed metadata.yaml."""
    names = _parse_names(_literal(raw.get("names")))
    imgsz = _parse_imgsz(_literal(raw.get("imgsz")))
    args = _literal(raw.get("args"))
    nms_in_graph = bool(args.get("nms")) if isinstance(args, dict) else False
    stride = _literal(raw.get("stride"))
    task = raw.get("task")
    return ModelMetadata(
        names=names,
        imgsz=imgsz,
        stride=int(stride) if isinstance(stride, int | float) else 32,
        end2end=_literal(raw.get("end2end")) is True,
        nms_in_graph=nms_in_graph,
        task=str(task) if task is not None else None,
        class_conf=_literal(raw.get("class_conf")),
    )


def _literal(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _parse_names(value: Any) -> dict[int, str]:
    if isinstance(value, dict):
        return {int(k): str(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return dict(enumerate(str(v) for v in value))
    return {}


def _parse_imgsz(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, list | tuple) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    return None


def detect_layout(output_shape: Sequence[Dim], metadata: ModelMetadata, num_classes: int) -> Layout:
    """Picks the layout; the metadata flags win, then the shape decides.

    An nms=True or end-to-end export says so in its metadata. Without that, (1, 4+nc, N) is the
    raw head and (1, N, 5+nc) is YOLOv5; a last dimension of 6 with no class count to compare
    against can only be an end-to-end output.
    """
    if len(output_shape) != 3:
        raise ModelFormatError(f"expected a 3-D detection output, got shape {list(output_shape)}")
    _, rows, cols = output_shape
    if metadata.end2end or metadata.nms_in_graph:
        if cols != 6:
            raise ModelFormatError(f"end-to-end output must end in 6 values, got {cols}")
        return Layout.END2END
    if num_classes and rows == 4 + num_classes:
        return Layout.RAW
    if num_classes and cols == 5 + num_classes:
        return Layout.YOLOV5
    if cols == 6:
        return Layout.END2END
    raise ModelFormatError(
        f"output shape {list(output_shape)} matches no Ultralytics layout for {num_classes} "
        "classes; set ROADHAZARD_MODEL_CLASS_NAMES if the model carries no class names"
    )


def infer_num_classes(output_shape: Sequence[Dim], metadata: ModelMetadata) -> int:
    """Class count from the metadata names, else from the output shape where it is unambiguous."""
    if metadata.names:
        return max(metadata.names) + 1
    if len(output_shape) != 3 or metadata.end2end or metadata.nms_in_graph:
        return 0
    _, rows, cols = output_shape
    if isinstance(rows, int) and rows > 4 and (not isinstance(cols, int) or rows < cols):
        return rows - 4
    if isinstance(cols, int) and cols > 6:
        return cols - 5
    return 0
