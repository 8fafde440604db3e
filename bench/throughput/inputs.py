"""What a run measures with: the model, the images, the CPU splits and the service's defaults."""

# roadhazard is imported inside the functions that need it, to keep this module light.
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .measure import BenchError

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
SHARED_MODELS = REPO_ROOT / ".." / "shared" / "models" / "ultralytics"
FALLBACK_MODEL = SHARED_MODELS / "yolov8n_raw.onnx"
FALLBACK_IMAGES = SHARED_MODELS / "images"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
# Enough variety to defeat any caching, few enough to keep every body in memory.
MAX_IMAGES = 100


@dataclass(frozen=True)
class Image:
    name: str
    data: bytes


def default_model() -> Path:
    from roadhazard.settings import BUNDLED_MODEL

    return BUNDLED_MODEL if BUNDLED_MODEL.is_file() else FALLBACK_MODEL.resolve()


def default_images() -> Path:
    samples = REPO_ROOT / "samples"
    return samples if _image_files(samples) else FALLBACK_IMAGES.resolve()


def _image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_images(folder: Path) -> list[Image]:
    files = _image_files(folder)[:MAX_IMAGES]
    if not files:
        raise BenchError(
            f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}; pass --images DIR"
        )
    return [Image(p.name, p.read_bytes()) for p in files]


def cpu_count() -> int:
    # The CPUs this process may run on, which a container or taskset can make fewer than the
    # machine's; the server subprocess inherits the same set.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def plausible_splits(cpus: int) -> list[tuple[int, int]]:
    """(parallel callers, intra-op threads) pairs: one of each, plus every way to fill the CPUs.

    Splits that ask for more threads than CPUs only add contention, so they are left out.
    """
    powers = [2**k for k in range(cpus.bit_length()) if 2**k <= cpus]
    full = [(c, t) for c in powers for t in powers if c * t == max(powers)]
    return sorted({(1, 1), *full})


def service_default(name: str) -> Any:
    from roadhazard.settings import Settings

    return Settings.model_fields[name].default
