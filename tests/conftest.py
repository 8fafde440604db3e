from __future__ import annotations

from pathlib import Path

import pytest

from tests import scene
from tests.factories import build_constant_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def raw_model(model_dir: Path) -> Path:
    return build_constant_model(
        model_dir / "raw.onnx", scene.raw_output(), metadata=scene.raw_metadata()
    )


@pytest.fixture(scope="session")
def end2end_model(model_dir: Path) -> Path:
    return build_constant_model(
        model_dir / "end2end.onnx", scene.end2end_output(), metadata=scene.end2end_metadata()
    )


@pytest.fixture(scope="session")
def yolov5_model(model_dir: Path) -> Path:
    return build_constant_model(
        model_dir / "yolov5.onnx", scene.yolov5_output(), metadata=scene.yolov5_metadata()
    )
