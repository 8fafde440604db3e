"""One known detection scene, expressed in each Ultralytics layout.

On a 320x320 canvas a 640x480 image is scaled by 0.5 and padded 40 px at the top, so every
expected box in original pixels can be worked out by hand.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tests.factories import raw_head, ultralytics_metadata

NAMES = ["D00", "D40", "D50"]
IMAGE_SIZE = (640, 480)  # width, height

# Anchor 1 overlaps anchor 0 (IoU 0.905) in the same class, so NMS removes it; anchor 2 is the
# same box in another class and survives; anchor 4 is under the 0.25 default threshold.
RAW_BOXES = [
    (160, 160, 40, 20),
    (162, 160, 40, 20),
    (162, 160, 40, 20),
    (60, 100, 20, 20),
    (250, 250, 30, 30),
    (0, 0, 0, 0),
]
RAW_SCORES = [
    (0.9, 0.0, 0.0),
    (0.8, 0.0, 0.0),
    (0.0, 0.7, 0.0),
    (0.0, 0.0, 0.6),
    (0.2, 0.1, 0.0),
    (0.0, 0.0, 0.0),
]

# (class_name, confidence, x1, y1, x2, y2) in original pixels, best first.
EXPECTED = [
    ("D00", 0.9, 280.0, 220.0, 360.0, 260.0),
    ("D40", 0.7, 284.0, 220.0, 364.0, 260.0),
    ("D50", 0.6, 100.0, 100.0, 140.0, 140.0),
]


def raw_output() -> npt.NDArray[np.float32]:
    return raw_head(RAW_BOXES, RAW_SCORES)


def end2end_output() -> npt.NDArray[np.float32]:
    rows = np.zeros((1, 300, 6), dtype=np.float32)
    rows[0, :4] = [
        (140, 150, 180, 170, 0.9, 0),
        (142, 150, 182, 170, 0.7, 1),
        (50, 90, 70, 110, 0.6, 2),
        (200, 200, 220, 220, 0.1, 0),
    ]
    return rows


def yolov5_output() -> npt.NDArray[np.float32]:
    objectness_and_classes = [
        (0.9, 1.0, 0.0, 0.0),
        (0.8, 1.0, 0.0, 0.0),
        (0.875, 0.0, 0.8, 0.0),
        (0.6, 0.0, 0.0, 1.0),
        (0.2, 1.0, 0.0, 0.0),
        (0.5, 0.4, 0.0, 0.0),
    ]
    rows = np.concatenate(
        [np.asarray(RAW_BOXES, np.float32), np.asarray(objectness_and_classes, np.float32)], axis=1
    )
    return rows[np.newaxis].copy()


def raw_metadata() -> dict[str, str]:
    return ultralytics_metadata(NAMES)


# A trained model's own per-class thresholds: they drop the 0.9 D00 box (under its 0.95) and
# keep D40 (0.7 over 0.5) and D50 (0.6 over 0.1).
TUNED_CLASS_CONF = "{0: 0.95, 1: 0.5, 2: 0.1}"


def tuned_metadata() -> dict[str, str]:
    return {**raw_metadata(), "class_conf": TUNED_CLASS_CONF}


def end2end_metadata() -> dict[str, str]:
    return ultralytics_metadata(NAMES, end2end=True)


def yolov5_metadata() -> dict[str, str]:
    # YOLOv5's own exporter writes only these two keys.
    return {"stride": "32", "names": str(dict(enumerate(NAMES)))}
