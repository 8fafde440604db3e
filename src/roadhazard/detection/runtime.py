"""Model runtimes: ONNX Runtime on CPU by default, OpenVINO as an optional extra.

A backend is a loaded model plus what the decoder needs to know about it: its input shape and
dtype, its output shape and the metadata Ultralytics wrote. `run` may be called from several
worker threads at once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import yaml

from roadhazard.detection.layouts import Dim, ModelFormatError

RuntimeName = Literal["onnxruntime", "openvino"]


class InferenceBackend(Protocol):
    runtime: RuntimeName
    providers: list[str]
    input_shape: tuple[Dim, ...]
    input_dtype: np.dtype[Any]
    output_shape: tuple[Dim, ...]
    metadata: Mapping[str, Any]

    def run(self, tensor: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]: ...


_ORT_DTYPES: dict[str, np.dtype[Any]] = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(float16)": np.dtype(np.float16),
}


class OnnxRuntimeBackend:
    """ONNX Runtime sessions are thread-safe, so all workers share one."""

    runtime: RuntimeName = "onnxruntime"

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

        load_errors = (
            ort_errors.Fail,
            ort_errors.InvalidArgument,
            ort_errors.InvalidGraph,
            ort_errors.InvalidProtobuf,
            ort_errors.NoSuchFile,
            ort_errors.NotImplemented,
            ort_errors.RuntimeException,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except load_errors as exc:
            raise ModelFormatError(f"ONNX Runtime cannot load {path.name}: {exc}") from exc
        model_input = self._session.get_inputs()[0]
        if model_input.type not in _ORT_DTYPES:
            raise ModelFormatError(f"unsupported model input type {model_input.type}")
        self._input_name: str = model_input.name
        self.input_dtype = _ORT_DTYPES[model_input.type]
        self.input_shape = tuple(_dim(d) for d in model_input.shape)
        self.output_shape = tuple(_dim(d) for d in self._session.get_outputs()[0].shape)
        self.providers: list[str] = list(self._session.get_providers())
        self.metadata: Mapping[str, Any] = dict(self._session.get_modelmeta().custom_metadata_map)

    def run(self, tensor: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        outputs = self._session.run(None, {self._input_name: tensor})
        return np.asarray(outputs[0])


class OpenVinoBackend:
    """OpenVINO infer requests are not thread-safe, so each worker thread gets its own."""

    runtime: RuntimeName = "openvino"

    def __init__(self, path: Path, threads: int, concurrency: int) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise ModelFormatError(
                "the OpenVINO runtime is not installed; install roadhazard[openvino]"
            ) from None
        core = ov.Core()
        try:
            model = core.read_model(str(path))
            self._compiled = core.compile_model(
                model,
                "CPU",
                {
                    # OpenVINO's default precision follows the CPU (bf16 where it has AMX), so
                    # the same image would score differently from host to host; f32 scores
                    # as ONNX Runtime does, everywhere.
                    "INFERENCE_PRECISION_HINT": "f32",
                    "NUM_STREAMS": str(concurrency),
                    "INFERENCE_NUM_THREADS": str(threads * concurrency),
                },
            )
        except RuntimeError as exc:
            raise ModelFormatError(f"OpenVINO cannot load {path.name}: {exc}") from exc
        model_input = self._compiled.input(0)
        self.input_dtype = np.dtype(model_input.get_element_type().to_dtype())
        self.input_shape = _partial_shape(model_input.get_partial_shape())
        self.output_shape = _partial_shape(self._compiled.output(0).get_partial_shape())
        self.providers = ["CPU"]
        self.metadata = _openvino_metadata(path)
        self._local = threading.local()

    def run(self, tensor: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._compiled.create_infer_request()
            self._local.request = request
        result = request.infer({0: tensor})
        return np.asarray(result[self._compiled.output(0)])


def _openvino_metadata(path: Path) -> Mapping[str, Any]:
    """IR exports keep metadata in metadata.yaml beside the .xml; ONNX files carry their own."""
    if path.suffix.lower() == ".onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return dict(session.get_modelmeta().custom_metadata_map)
    sidecar = path.with_name("metadata.yaml")
    if not sidecar.is_file():
        return {}
    with sidecar.open(encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle)
    if not isinstance(loaded, dict):
        raise ModelFormatError(f"{sidecar} is not a YAML mapping")
    return loaded


def _dim(value: Any) -> Dim:
    return value if isinstance(value, int) and value > 0 else None


def _partial_shape(shape: Any) -> tuple[Dim, ...]:
    return tuple(d.get_length() if d.is_static else None for d in shape)


def load_backend(
    path: Path, runtime: RuntimeName, *, threads: int, concurrency: int
) -> InferenceBackend:
    if not path.is_file():
        raise ModelFormatError(f"model file not found: {path}")
    if runtime == "openvino":
        return OpenVinoBackend(path, threads, concurrency)
    return OnnxRuntimeBackend(path, threads)
