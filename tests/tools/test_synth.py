from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from PIL import Image
from tools.synth import CLASS_NAMES, render_scene
from tools.synth.dataset import split_of, write_dataset


def test_same_seed_and_index_give_identical_bytes_and_labels() -> None:
    first, second = render_scene(7, 3), render_scene(7, 3)
    assert first.jpeg == second.jpeg
    assert first.boxes == second.boxes


def test_different_seeds_give_different_scenes() -> None:
    assert render_scene(7, 3).jpeg != render_scene(8, 3).jpeg


@pytest.mark.parametrize("index", range(6))
def test_labels_are_valid_and_inside_the_image(index: int) -> None:
    sample = render_scene(11, index)
    with Image.open(io.BytesIO(sample.jpeg)) as image:
        assert image.format == "JPEG"
        assert image.size == (sample.width, sample.height)
    for box in sample.boxes:
        assert 0 <= box.class_id < len(CLASS_NAMES)
        assert 0 <= box.x1 < box.x2 <= sample.width
        assert 0 <= box.y1 < box.y2 <= sample.height
    for line in sample.yolo_lines():
        class_id, *coords = line.split()
        assert int(class_id) in range(len(CLASS_NAMES))
        cx, cy, w, h = map(float, coords)
        assert cx - w / 2 >= 0
        assert cx + w / 2 <= 1 + 1e-6
        assert cy - h / 2 >= 0
        assert cy + h / 2 <= 1 + 1e-6


def test_a_batch_of_scenes_contains_every_class() -> None:
    seen = {box.class_id for index in range(8) for box in render_scene(3, index).boxes}
    assert seen == set(range(len(CLASS_NAMES)))


def test_written_dataset_layout_and_data_yaml(tmp_path: Path) -> None:
    progress: list[tuple[int, int]] = []
    summary = write_dataset(
        tmp_path,
        count=4,
        seed=5,
        val_fraction=0.25,
        on_progress=lambda d, t: progress.append((d, t)),
    )
    assert summary.images == 4
    assert progress[-1] == (4, 4)
    train = sorted((tmp_path / "images" / "train").iterdir())
    val = sorted((tmp_path / "images" / "val").iterdir())
    assert (len(train), len(val)) == (3, 1)
    for image in train + val:
        label = tmp_path / "labels" / image.parent.name / f"{image.stem}.txt"
        assert label.exists()
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["train"] == "images/train"
    assert data["val"] == "images/val"
    assert data["names"] == dict(enumerate(CLASS_NAMES))
    # Rewriting with the same seed reproduces every file byte for byte.
    again = tmp_path / "again"
    write_dataset(again, count=4, seed=5, val_fraction=0.25)
    for image in train:
        assert (again / "images" / "train" / image.name).read_bytes() == image.read_bytes()


def test_val_split_is_the_tail_of_the_indices() -> None:
    assert [split_of(i, 10, 0.2) for i in range(10)] == ["train"] * 8 + ["val"] * 2
