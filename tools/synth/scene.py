"""Render one synthetic road scene with YOLO labels.

The road is painted top-down on a square ground plane (y = direction of travel, far at the
top), hazards are drawn onto it, and a homography then maps it to either a dashcam view
(trapezoid below a horizon) or a slightly rotated top-down view. Photometric degradations
(lighting, blur, noise, JPEG) are applied in image space afterwards.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from tools.synth.hazards import DRAWERS, Rng

CLASS_NAMES: tuple[str, ...] = ("D00", "D10", "D20", "D40", "D50")
GROUND_SIZE = 768
# Crack classes are thin: below this local magnification they alias away to nothing, so
# labelling them would teach the model to hallucinate on plain asphalt.
MIN_SCALE = {0: 0.35, 1: 0.35, 2: 0.3, 3: 0.25, 4: 0.25}
MIN_BOX_SIDE_PX = 3
MIN_BOX_EXTENT_PX = 12


@dataclass(frozen=True)
class Box:
    class_id: int
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class SceneSample:
    jpeg: bytes
    width: int
    height: int
    boxes: tuple[Box, ...]

    def yolo_lines(self) -> list[str]:
        lines = []
        for box in self.boxes:
            cx = (box.x1 + box.x2) / 2 / self.width
            cy = (box.y1 + box.y2) / 2 / self.height
            w = (box.x2 - box.x1) / self.width
            h = (box.y2 - box.y1) / self.height
            lines.append(f"{box.class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
        return lines


def _smooth_noise(rng: Rng, size: int, cells: int) -> np.ndarray:
    coarse = rng.normal(0.0, 1.0, (cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)


def _paint_road(rng: Rng) -> tuple[np.ndarray, tuple[int, int]]:
    size = GROUND_SIZE
    grey = rng.uniform(55, 150)
    tint = rng.normal(0, 5, 3)
    base = np.full((size, size, 3), grey, np.float32) + tint
    texture = sum(
        _smooth_noise(rng, size, cells) * amp
        for cells, amp in ((4, rng.uniform(3, 14)), (24, rng.uniform(2, 8)), (96, 4.0))
    )
    base += np.asarray(texture)[..., None]
    base += rng.normal(0, rng.uniform(5, 16), (size, size, 1)).astype(np.float32)
    # Aggregate: sparse light and dark stones in the surface.
    stones = rng.random((size, size)) < rng.uniform(0.005, 0.03)
    base[stones] += rng.choice([-35.0, 40.0], size=(int(stones.sum()), 1))

    road_width = rng.uniform(0.55, 1.0) * size
    left = int((size - road_width) / 2 + rng.uniform(-0.1, 0.1) * size)
    right = int(left + road_width)
    shoulder = np.array(
        [rng.uniform(60, 110), rng.uniform(90, 140), rng.uniform(40, 80)]
        if rng.random() < 0.6
        else [rng.uniform(120, 180)] * 3,
        np.float32,
    )
    shoulder_tex = _smooth_noise(rng, size, 64)[..., None] * 15
    for x0, x1 in ((0, max(left, 0)), (min(right, size), size)):
        if x1 > x0:
            base[:, x0:x1] = shoulder + shoulder_tex[:, x0:x1]

    _paint_markings(base, rng, max(left, 0), min(right, size))
    _paint_distractors(base, rng, max(left, 0), min(right, size))
    return base, (max(left, 0), min(right, size))


def _paint_markings(ground: np.ndarray, rng: Rng, left: int, right: int) -> None:
    size = ground.shape[0]
    white = np.array([235.0, 235.0, 228.0])
    yellow = np.array([225.0, 190.0, 60.0])
    fade = rng.uniform(0.35, 0.95)
    mask = np.zeros((size, size), np.uint8)
    if rng.random() < 0.7:
        for x in (left + 14, right - 14):
            cv2.line(mask, (x, 0), (x, size), 1, int(rng.integers(6, 12)))
    centre_colour = yellow if rng.random() < 0.3 else white
    centre_mask = np.zeros_like(mask)
    if rng.random() < 0.8:
        centre = (left + right) // 2
        dash, gap = int(rng.integers(60, 140)), int(rng.integers(50, 140))
        phase = int(rng.integers(0, dash + gap))
        for y in range(-phase, size, dash + gap):
            cv2.line(centre_mask, (centre, y), (centre, y + dash), 1, int(rng.integers(6, 12)))
    wear = np.clip(_smooth_noise(rng, size, 40) * 0.5 + 0.8, 0, 1)
    for paint, colour in ((mask, white), (centre_mask, centre_colour)):
        alpha = (paint.astype(np.float32) * fade * wear)[..., None]
        ground[:] = ground * (1 - alpha) + colour * alpha


def _paint_distractors(ground: np.ndarray, rng: Rng, left: int, right: int) -> None:
    """Patches and stains: dark shapes that are not hazards, so the model must not fire."""
    size = ground.shape[0]
    for _ in range(int(rng.integers(0, 4))):
        mask = np.zeros((size, size), np.uint8)
        x, y = int(rng.uniform(left, right)), int(rng.uniform(0, size))
        if rng.random() < 0.5:
            w, h = int(rng.uniform(40, 220)), int(rng.uniform(40, 220))
            cv2.rectangle(mask, (x, y), (x + w, y + h), 1, -1)
            strength = rng.uniform(-0.25, 0.25)
        else:
            axes = (int(rng.uniform(10, 60)), int(rng.uniform(8, 40)))
            cv2.ellipse(mask, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            strength = rng.uniform(0.1, 0.35)
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), rng.uniform(1, 8))[..., None]
        ground[:] = ground * (1 - strength * soft)


def _paint_shadows(ground: np.ndarray, rng: Rng) -> None:
    size = ground.shape[0]
    for _ in range(int(rng.integers(0, 3))):
        mask = np.zeros((size, size), np.uint8)
        points = rng.uniform(-0.2, 1.2, (int(rng.integers(4, 9)), 2)) * size
        cv2.fillPoly(mask, [cv2.convexHull(points.astype(np.int32))], 1)
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), rng.uniform(2, 14))[..., None]
        ground[:] = ground * (1 - rng.uniform(0.3, 0.6) * soft)


def _camera(rng: Rng) -> tuple[np.ndarray, int, int, float, float, float]:
    """The ground->image homography, output size, visible ground y-range and horizon row."""
    src = np.float32([[0, 0], [GROUND_SIZE, 0], [GROUND_SIZE, GROUND_SIZE], [0, GROUND_SIZE]])
    if rng.random() < 0.65:
        width, height = 640, 480
        horizon = rng.uniform(0.3, 0.5) * height
        centre = width / 2 + rng.uniform(-0.12, 0.12) * width
        top_half = rng.uniform(0.06, 0.16) * width
        bottom_half = rng.uniform(0.8, 1.4) * width
        bottom_y = height + rng.uniform(0.0, 0.4) * height
        dst = np.float32(
            [
                [centre - top_half, horizon + 2],
                [centre + top_half, horizon + 2],
                [width / 2 + bottom_half, bottom_y],
                [width / 2 - bottom_half, bottom_y],
            ]
        )
        return cv2.getPerspectiveTransform(src, dst), width, height, 0.35, 1.0, horizon
    side = 640
    window = rng.uniform(0.4, 0.9) * GROUND_SIZE
    angle = rng.uniform(-0.25, 0.25)
    cx, cy = rng.uniform(window / 2, GROUND_SIZE - window / 2, 2)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * window / 2 @ rot.T + [cx, cy]
    out = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
    homography = cv2.getPerspectiveTransform(corners.astype(np.float32), out)
    y_lo, y_hi = (cy - window / 2) / GROUND_SIZE, (cy + window / 2) / GROUND_SIZE
    return homography, side, side, y_lo, y_hi, 0.0


def _local_scale(homography: np.ndarray, point: tuple[float, float]) -> float:
    probe = np.float32([[point, (point[0] + 1, point[1]), (point[0], point[1] + 1)]])
    a, b, c = cv2.perspectiveTransform(probe, homography)[0]
    (ux, uy), (vx, vy) = b - a, c - a
    # The area of the unit square's image: the z of the 2-D cross product.
    return float(np.sqrt(abs(ux * vy - uy * vx)))


def _sky(rng: Rng, width: int, height: int, horizon: float) -> np.ndarray:
    blue = rng.uniform(150, 250)
    top = np.array([blue * rng.uniform(0.55, 0.9), blue * rng.uniform(0.75, 0.95), blue])
    bottom = np.clip(top * rng.uniform(0.9, 1.1) + rng.uniform(10, 50), 0, 255)
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3)).copy()
    # Distant trees / buildings: a dark band with a ragged top edge down to the horizon.
    profile = _smooth_noise(rng, width, 12)[0] * 0.04 * height + horizon - rng.uniform(5, 60)
    rows = np.arange(height, dtype=np.float32)[:, None]
    scenery = np.array([rng.uniform(30, 90), rng.uniform(40, 100), rng.uniform(30, 80)])
    sky[rows >= profile[None, :]] = scenery
    return sky.astype(np.float32)


def _degrade(image: np.ndarray, rng: Rng) -> np.ndarray:
    height, width = image.shape[:2]
    gain = rng.uniform(0.6, 1.3)
    gamma = rng.uniform(0.75, 1.35)
    cast = 1 + rng.normal(0, 0.05, 3)
    image = 255 * (np.clip(image * gain * cast, 0, 255) / 255) ** gamma
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    radius = ((xs - width / 2) ** 2 + (ys - height / 2) ** 2) / (width**2 / 4 + height**2 / 4)
    image *= (1 - rng.uniform(0, 0.35) * radius)[..., None]
    if rng.random() < 0.35:
        length = int(rng.integers(3, 9))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2] = 1.0 / length
        rotation = cv2.getRotationMatrix2D((length / 2, length / 2), rng.uniform(0, 180), 1)
        kernel = cv2.warpAffine(kernel, rotation, (length, length))
        image = cv2.filter2D(image, -1, kernel / max(float(kernel.sum()), 1e-6))
    elif rng.random() < 0.4:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.6))
    image += rng.normal(0, rng.uniform(0, 8), image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def render_scene(seed: int, index: int) -> SceneSample:
    """Deterministic in (seed, index): the same pair always gives the same bytes."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    ground, (left, right) = _paint_road(rng)
    homography, width, height, y_lo, y_hi, horizon = _camera(rng)

    placed: list[tuple[int, np.ndarray]] = []
    occupied = np.zeros(ground.shape[:2], np.uint8)
    n_hazards = 0 if rng.random() < 0.06 else int(rng.integers(1, 5))
    for _ in range(n_hazards):
        class_id = int(rng.integers(0, len(CLASS_NAMES)))
        for _attempt in range(8):
            centre = (
                float(rng.uniform(left + 30, max(left + 31, right - 30))),
                float(rng.uniform(y_lo, y_hi) * GROUND_SIZE),
            )
            if occupied[int(centre[1]) % GROUND_SIZE, int(centre[0]) % GROUND_SIZE] == 0:
                break
        mask = DRAWERS[class_id](ground, rng, centre)
        occupied |= cv2.dilate(mask, np.ones((25, 25), np.uint8))
        placed.append((class_id, mask))
    _paint_shadows(ground, rng)

    image = cv2.warpPerspective(
        np.clip(ground, 0, 255),
        homography,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(-1, -1, -1),
    )
    uncovered = image[..., 0] < 0
    if uncovered.any():
        image[uncovered] = _sky(rng, width, height, horizon)[uncovered]

    boxes = []
    for class_id, mask in placed:
        box = _project_box(mask, homography, class_id, width, height)
        if box is not None:
            boxes.append(box)
    final = _degrade(image, rng)
    buffer = io.BytesIO()
    Image.fromarray(final).save(buffer, format="JPEG", quality=int(rng.integers(35, 96)))
    return SceneSample(buffer.getvalue(), width, height, tuple(boxes))


def _project_box(
    mask: np.ndarray, homography: np.ndarray, class_id: int, width: int, height: int
) -> Box | None:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    points = np.vstack([c.reshape(-1, 2) for c in contours]).astype(np.float32)
    centre = points.mean(axis=0)
    if _local_scale(homography, (float(centre[0]), float(centre[1]))) < MIN_SCALE[class_id]:
        return None
    warped = cv2.perspectiveTransform(points[None], homography)[0]
    x1, y1 = warped.min(axis=0)
    x2, y2 = warped.max(axis=0)
    full_area = max((x2 - x1) * (y2 - y1), 1e-6)
    cx1, cy1 = max(float(x1), 0.0), max(float(y1), 0.0)
    cx2, cy2 = min(float(x2), float(width)), min(float(y2), float(height))
    box_w, box_h = cx2 - cx1, cy2 - cy1
    if min(box_w, box_h) < MIN_BOX_SIDE_PX or max(box_w, box_h) < MIN_BOX_EXTENT_PX:
        return None
    # A hazard mostly outside the frame is labelled only if a fair part of it shows.
    if box_w * box_h / full_area < 0.25:
        return None
    return Box(class_id, cx1, cy1, cx2, cy2)
