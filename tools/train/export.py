"""ONNX export in the Ultralytics raw layout, with Ultralytics-style metadata."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from tools.train.model import Detector, ExportWrapper

OPSET = 17
MODEL_VERSION = "0.3.0"
LICENCE = (
    "CC BY-SA 4.0 (weights trained on RDD2022, CC BY-SA 4.0, and on CC BY 4.0 pothole "
    "photos; see MODEL_CARD.md); code Apache-2.0"
)


def metadata(
    class_names: Sequence[str], image_size: int, class_conf: Mapping[int, float] | None = None
) -> dict[str, str]:
    # Ultralytics writes every value as a Python literal string; readers ast.literal_eval it.
    # ``class_conf`` is Roadhazard's own key: the per-class default confidence thresholds.
    extra = {"class_conf": repr({k: round(v, 4) for k, v in (class_conf or {}).items()})}
    return {
        "description": "Roadhazard road-damage detector (compact anchor-free YOLO-style)",
        "author": "Roadhazard contributors",
        "version": MODEL_VERSION,
        "license": LICENCE,
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "stride": "32",
        "task": "detect",
        "batch": "1",
        "imgsz": repr([image_size, image_size]),
        "names": repr(dict(enumerate(class_names))),
        "channels": "3",
        "end2end": "False",
        "args": repr({"nms": False, "dynamic": False}),
        **(extra if class_conf else {}),
    }


@dataclass(frozen=True)
class ExportCheck:
    """Largest |onnxruntime - torch| over random inputs, for boxes (px) and scores."""

    box_abs: float
    score_abs: float
    image_size: int

    @property
    def box_normalized(self) -> float:
        return self.box_abs / self.image_size

    def passed(self, tolerance: float = 1e-4) -> bool:
        # Boxes are in pixels (up to ~image_size), where float32 spacing alone is ~3e-5,
        # so they are compared in units of the image size; scores are compared directly.
        return self.score_abs <= tolerance and self.box_normalized <= tolerance

    def __str__(self) -> str:
        return (
            f"scores {self.score_abs:.1e}, boxes {self.box_abs:.1e} px "
            f"({self.box_normalized:.1e} of the image size)"
        )


def export_onnx(
    detector: Detector,
    class_names: Sequence[str],
    image_size: int,
    path: Path,
    class_conf: Mapping[int, float] | None = None,
) -> ExportCheck:
    """Export, stamp metadata, and compare onnxruntime with torch on random inputs."""
    wrapper = ExportWrapper(detector, image_size).eval()
    dummy = torch.zeros(1, 3, image_size, image_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(path),
            input_names=["images"],
            output_names=["output0"],
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata(class_names, image_size, class_conf).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return verify(wrapper, path, image_size)


def verify(wrapper: ExportWrapper, path: Path, image_size: int) -> ExportCheck:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    box_abs = score_abs = 0.0
    for _ in range(3):
        sample = rng.random((1, 3, image_size, image_size), dtype=np.float32)
        with torch.no_grad():
            expected = wrapper(torch.from_numpy(sample)).numpy()
        (actual,) = session.run(["output0"], {"images": sample})
        if actual.shape != expected.shape:
            raise RuntimeError(f"ONNX output shape {actual.shape} != torch {expected.shape}")
        difference = np.abs(actual - expected)
        box_abs = max(box_abs, float(difference[:, :4].max()))
        score_abs = max(score_abs, float(difference[:, 4:].max()))
    return ExportCheck(box_abs, score_abs, image_size)
