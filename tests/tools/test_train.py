"""Training code is dev-only: these tests run only where torch is installed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
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


def _one_box_batch() -> tuple[torch.Tensor, ...]:
    centres, strides = make_anchors(64, torch.device("cpu"))
    boxes = torch.tensor([[[8.0, 8.0, 40.0, 40.0]], [[8.0, 8.0, 40.0, 40.0]]])
    classes = torch.tensor([[3], [3]])
    return centres, strides, boxes, classes


def test_partial_labels_give_no_class_loss_for_unlabelled_classes() -> None:
    """A confident 'crack' in a pothole-only image costs nothing; in a fully labelled one
    it is a false positive and costs a lot."""
    torch.manual_seed(0)
    centres, strides, boxes, classes = _one_box_batch()
    n = len(centres)
    distances = 0.5 + torch.rand(2, n, 4)
    logits = torch.full((2, n, 5), -8.0)
    logits[..., 0] = 8.0  # every cell says D00 with certainty
    pothole_only = torch.tensor([[0.0, 0.0, 0.0, 1.0, 0.0]] * 2)
    everything = torch.ones(2, 5)
    masked = detection_loss(
        distances, logits, centres, strides, boxes, classes, classes >= 0, pothole_only
    )
    full = detection_loss(
        distances, logits, centres, strides, boxes, classes, classes >= 0, everything
    )
    assert full.cls > 50 * masked.cls
    # With the mask, what the model says about the unlabelled class does not matter at all.
    quiet = logits.clone()
    quiet[..., 0] = -8.0
    masked_quiet = detection_loss(
        distances, quiet, centres, strides, boxes, classes, classes >= 0, pothole_only
    )
    assert masked.cls == masked_quiet.cls


def test_masked_classes_get_no_gradient() -> None:
    centres, strides, boxes, classes = _one_box_batch()
    n = len(centres)
    logits = torch.zeros(2, n, 5, requires_grad=True)
    mask = torch.tensor([[0.0, 0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    parts = detection_loss(
        torch.ones(2, n, 4), logits, centres, strides, boxes, classes, classes >= 0, mask
    )
    parts.total.backward()
    assert logits.grad is not None
    assert logits.grad[0, :, [0, 1, 2, 4]].abs().max() == 0
    assert logits.grad[0, :, 3].abs().max() > 0
    assert logits.grad[1].abs().min() > 0


def test_a_mosaic_takes_its_tiles_from_one_dataset() -> None:
    from tools.train.data import Augmenter, CachedImage

    rng = np.random.default_rng(0)
    boxes = np.array([[3, 4, 4, 30, 30]], np.float32)
    items = [
        CachedImage(np.full((64, 64, 3), source * 100, np.uint8), boxes, source)
        for source in (0, 1)
        for _ in range(5)
    ]
    augmenter = Augmenter(items, 64, rng)
    for _ in range(20):
        canvas, _ = augmenter._mosaic(7)  # an image of dataset 1 (all pixels 100)
        assert set(np.unique(canvas[:32, :32])) <= {100}
        assert set(np.unique(canvas)) <= {100}


def test_the_zoom_range_and_mosaic_share_are_the_runs_choice() -> None:
    from tools.train.data import Augmenter, CachedImage

    boxes = np.array([[0, 24, 24, 40, 40]], np.float32)  # 16 px wide, centred
    items = [CachedImage(np.zeros((64, 64, 3), np.uint8), boxes)]
    zoomed = Augmenter(items, 64, np.random.default_rng(0), scale=(1.5, 1.5), mosaic=0.0)
    for _ in range(10):
        _, out = zoomed.sample(0)
        assert np.allclose(out[:, 3] - out[:, 1], 24.0)  # 1.5 x 16; a shift never clips it
    always = Augmenter(items, 64, np.random.default_rng(0), scale=(1.0, 1.0), mosaic=1.0)
    _, out = always.sample(0)
    assert len(out) == 4  # four tiles of the one image
    assert np.allclose(out[:, 3] - out[:, 1], 8.0)  # each at half size


def test_batches_carry_each_images_label_mask() -> None:
    from tools.train.data import Augmenter, CachedImage, train_batches

    rng = np.random.default_rng(0)
    items = [
        CachedImage(np.zeros((64, 64, 3), np.uint8), np.zeros((0, 5), np.float32), s)
        for s in (0, 1, 1, 0)
    ]
    masks = np.array([[1, 1, 1, 1, 0], [0, 0, 0, 1, 0]], np.float32)
    (batch,) = train_batches(Augmenter(items, 64, rng), np.array([1, 0, 3, 2]), masks, 4)
    assert batch.label_mask.tolist() == [
        masks[1].tolist(),
        masks[0].tolist(),
        masks[0].tolist(),
        masks[1].tolist(),
    ]
    assert batch.images.shape == (4, 3, 64, 64)
    assert not batch.valid.any()


def test_checkpoint_round_trip_resumes_exactly(tmp_path: Path) -> None:
    from tools.train.checkpoint import EMA, Architecture, Progress, load, restore, save
    from tools.train.train import make_optimizer

    arch = Architecture(NAMES, TINY, (1, 1, 1, 1), 64)
    model = arch.build()
    ema, optimizer = EMA(model), make_optimizer(model, 1e-3)
    rng = np.random.default_rng(5)
    rng.random(3)
    ema.update(model)
    save(tmp_path / "last.pt", arch, model, ema, optimizer, Progress(2, 40, 123.0), rng)
    expected_next = rng.random()

    model2 = arch.build()
    ema2, optimizer2 = EMA(model2), make_optimizer(model2, 1e-3)
    rng2 = np.random.default_rng(0)
    progress = restore(load(tmp_path / "last.pt"), model2, ema2, optimizer2, rng2)
    assert progress == Progress(2, 40, 123.0)
    assert rng2.random() == expected_next
    assert ema2.updates == 1
    for name, value in model.state_dict().items():
        assert torch.equal(value, model2.state_dict()[name]), name


def test_prefetched_batches_keep_their_order_and_pass_errors_on() -> None:
    from tools.train.data import Batch, prefetched

    def batches(fail_after: int | None) -> Iterator[Batch]:
        for index in range(5):
            if index == fail_after:
                raise ValueError("cannot decode image x.jpg")
            yield Batch(*(torch.full((1,), float(index)) for _ in range(5)))

    assert [int(b.images.item()) for b in prefetched(batches(None))] == [0, 1, 2, 3, 4]
    stream = prefetched(batches(3))
    assert [int(next(stream).images.item()) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match=r"x\.jpg"):
        next(stream)


def test_weights_file_is_fp16_and_serves_export_and_warm_starts(tmp_path: Path) -> None:
    from tools.train.checkpoint import EMA, Architecture, save_weights, trained_detector
    from tools.train.data import CachedImage
    from tools.train.sources import SourceDataset
    from tools.train.train import Trainer, architecture_for, parse_args
    from tools.train.validation import TrainingData

    arch = Architecture(NAMES, TINY, (1, 1, 1, 1), 64)
    ema = EMA(arch.build())
    save_weights(tmp_path / "weights.pt", arch, ema)
    stored = torch.load(tmp_path / "weights.pt", weights_only=False)
    assert stored["ema"]["stem.0.conv.weight"].dtype == torch.float16
    detector, loaded_arch = trained_detector(tmp_path / "weights.pt")
    assert loaded_arch == arch
    for name, value in ema.model.state_dict().items():
        assert torch.allclose(detector.state_dict()[name].float(), value.float(), atol=1e-2), name

    args = parse_args(["--init", str(tmp_path / "weights.pt"), "--out", str(tmp_path)])
    assert architecture_for(args) == dataclasses.replace(arch, imgsz=512)  # the default size
    resized = parse_args(["--init", str(tmp_path / "weights.pt"), "--imgsz", "96"])
    assert architecture_for(resized) == dataclasses.replace(arch, imgsz=96)
    image = CachedImage(np.zeros((64, 64, 3), np.uint8), np.zeros((0, 5), np.float32))
    source = SourceDataset("d", {0: 0}, frozenset({0}))
    trainer = Trainer(args, TrainingData([source], [image], []), loaded_arch)
    assert trainer.progress.step == 0  # a fresh schedule, from the stored weights
    first = "stem.0.conv.weight"
    assert torch.equal(trainer.model.state_dict()[first], detector.state_dict()[first])
