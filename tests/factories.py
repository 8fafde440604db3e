"""Real things for tests: ONNX detection models with known outputs, images, gated backends."""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from roadhazard.detection.layouts import Dim
from roadhazard.detection.runtime import RuntimeName

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO_ROOT.parent / "shared" / "models" / "ultralytics"


def ultralytics_metadata(
    names: Sequence[str],
    imgsz: tuple[int, int] = (320, 320),
    *,
    end2end: bool = False,
    nms: bool | None = None,
) -> dict[str, str]:
    """Metadata as Ultralytics' exporter writes it: Python literals as strings."""
    return {
        "description": "test model",
        "author": "Roadhazard tests",
        "stride": "32",
        "task": "detect",
        "batch": "1",
        "imgsz": str(list(imgsz)),
        "names": str(dict(enumerate(names))),
        "end2end": str(end2end),
        "args": str({"batch": 1, "nms": nms, "dynamic": False}),
    }


def build_constant_model(
    path: Path,
    output: npt.NDArray[np.float32],
    *,
    metadata: Mapping[str, str],
    imgsz: tuple[int, int] = (320, 320),
    dynamic_input: bool = False,
    input_dtype: int = TensorProto.FLOAT,
) -> Path:
    """An ONNX model whose output is `output` whatever the image, so decoding is exact.

    The input still flows into the output (times zero), so the runtime cannot prune it.
    """
    height, width = imgsz
    input_dims: list[int | str] = (
        ["batch", 3, "height", "width"] if dynamic_input else [1, 3, height, width]
    )
    image = helper.make_tensor_value_info("images", input_dtype, input_dims)
    result = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))
    constant = numpy_helper.from_array(output.astype(np.float32), name="known_output")
    zero = numpy_helper.from_array(np.zeros((), dtype=np.float32), name="zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Cast", ["mean"], ["mean32"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["mean32", "zero"], ["nothing"]),
        helper.make_node("Add", ["known_output", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(nodes, "constant_detector", [image], [result], [constant, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def raw_head(
    boxes_cxcywh: Sequence[Sequence[float]], scores: Sequence[Sequence[float]]
) -> npt.NDArray[np.float32]:
    """(1, 4+nc, N) from per-anchor boxes and per-anchor class scores."""
    rows = np.concatenate(
        [np.asarray(boxes_cxcywh, np.float32), np.asarray(scores, np.float32)], axis=1
    )
    return rows.T[np.newaxis].copy()


def encode_image(
    size: tuple[int, int] = (640, 480),
    fmt: str = "JPEG",
    *,
    seed: int = 0,
    exif_orientation: int | None = None,
) -> bytes:
    """A noisy RGB image of `size` (width, height) encoded as `fmt`."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    kwargs: dict[str, Any] = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


class GatedBackend:
    """A backend whose inference waits for `gate`, to fill the pool on purpose.

    It returns a fixed raw-layout output, so results stay checkable.
    """

    runtime: RuntimeName = "onnxruntime"

    def __init__(self, output: npt.NDArray[np.float32], metadata: Mapping[str, str]) -> None:
        self.providers = ["TestGate"]
        self.input_shape: tuple[Dim, ...] = (1, 3, 320, 320)
        self.input_dtype: np.dtype[Any] = np.dtype(np.float32)
        self.output_shape: tuple[Dim, ...] = tuple(int(d) for d in output.shape)
        self.metadata = dict(metadata)
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Semaphore(0)
        self.calls = 0
        self._output = output
        self._lock = threading.Lock()

    def run(self, tensor: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        with self._lock:
            self.calls += 1
        self.started.release()
        if not self.gate.wait(timeout=30):
            raise TimeoutError("test gate was never opened")
        return self._output


def jpeg(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (90, 90, 90)) -> bytes:
    """A small plain JPEG: a frame or report photo whose pixels do not matter."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="JPEG")
    return out.getvalue()


def png(width: int = 32, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 10)).save(out, format="PNG")
    return out.getvalue()
