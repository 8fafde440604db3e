"""Training code is dev-only: these tests run only where torch is installed."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from tools.train.export import export_onnx  # noqa: E402
from tools.train.loss import assign, detection_loss  # noqa: E402
from tools.train.model import Detector, ExportWrapper, make_anchors  # noqa: E402

NAMES = ("D00", "D10", "D20", "D40", "D50")
TINY = (8, 8, 16, 16, 16)


def test_anchor_grid_matches_ultralytics_cell_order() -> None:
    centres, strides = make_anchors(64, torch.device("cpu"))
    assert centres.shape == (64 + 16 + 4, 2)
    assert centres[0].tolist() == [4.0, 4.0]
    assert centres[1].tolist() == [12.0, 4.0]  # row-major: x runs fastest
    assert strides[64].item() == 16


def test_export_wrapper_layout() -> None:
    model = Detector(5, TINY).eval()
    with torch.no_grad():
        output = ExportWrapper(model, 64)(torch.zeros(1, 3, 64, 64))
    assert output.shape == (1, 9, 84)
    assert ((output[:, 4:] >= 0) & (output[:, 4:] <= 1)).all()


def test_assigner_finds_positives_for_a_thin_box_between_cell_centres() -> None:
    centres, strides = make_anchors(64, torch.device("cpu"))
    n = len(centres)
    scores = torch.full((1, n, 5), 0.5)
    pred = torch.cat([centres - 6, centres + 6], -1)[None]
    gt = torch.tensor([[[10.0, 13.0, 40.0, 15.0]]])  # 2 px high, no cell centre inside
    result = assign(scores, pred, centres, strides, gt, torch.tensor([[1]]), torch.tensor([[True]]))
    assert result.foreground.any()
    assert (result.target_scores[0, result.foreground[0]].argmax(-1) == 1).all()


def test_loss_decreases_when_overfitting_one_image() -> None:
    torch.manual_seed(0)
    model = Detector(5, TINY)
    centres, strides = make_anchors(64, torch.device("cpu"))
    images = torch.rand(2, 3, 64, 64)
    boxes = torch.tensor([[[8.0, 8.0, 40.0, 40.0]], [[20.0, 10.0, 60.0, 30.0]]])
    classes = torch.tensor([[3], [0]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(10):
        parts = detection_loss(*model(images), centres, strides, boxes, classes, classes >= 0)
        optimizer.zero_grad()
        parts.total.backward()
        optimizer.step()
        losses.append(parts.total.item())
    assert losses[-1] < losses[0] * 0.7


def test_export_matches_torch_and_carries_metadata(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "tiny.onnx"
    check = export_onnx(Detector(5, TINY).eval(), NAMES, 64, path)
    assert check.passed()
    assert check.score_abs < 1e-4
    meta = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    assert meta["names"] == "{0: 'D00', 1: 'D10', 2: 'D20', 3: 'D40', 4: 'D50'}"
    assert meta["imgsz"] == "[64, 64]"
