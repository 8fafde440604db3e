"""Drawing of the five hazard kinds onto a top-down ground-plane image.

Every drawer paints in place on a float32 RGB ground image (0..255) and returns the binary
mask of the pixels it changed. The mask, not the drawing parameters, defines the label box:
after the camera warp we take the box of the warped mask outline, so labels stay tight
whatever the perspective does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import cv2
import numpy as np

Rng = np.random.Generator
Drawer = Callable[[np.ndarray, Rng, tuple[float, float]], np.ndarray]


def _random_walk(rng: Rng, start: tuple[float, float], heading: float, length: float) -> np.ndarray:
    """A jagged polyline: real cracks wander but keep a dominant direction."""
    step = rng.uniform(5.0, 11.0)
    n_steps = max(3, int(length / step))
    wander = rng.uniform(0.15, 0.45)
    angles = heading + np.cumsum(rng.normal(0.0, wander, n_steps)) * 0.35
    # Pull the walk back towards its heading so it does not curl into a circle.
    angles = heading + (angles - heading) * 0.6
    deltas = np.stack([np.cos(angles), np.sin(angles)], axis=1) * step
    points = np.vstack([[start], start + np.cumsum(deltas, axis=0)])
    return points.astype(np.float32)


def _darken(ground: np.ndarray, mask: np.ndarray, strength: float, tint: np.ndarray) -> None:
    soft = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.7)[..., None]
    ground[:] = ground * (1.0 - strength * soft) + tint * strength * soft


def _crack(ground: np.ndarray, rng: Rng, centre: tuple[float, float], heading: float) -> np.ndarray:
    height, width = ground.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    length = rng.uniform(110.0, 380.0)
    start = np.array(centre) - 0.5 * length * np.array([np.cos(heading), np.sin(heading)])
    main = _random_walk(rng, (float(start[0]), float(start[1])), heading, length)
    thickness = int(rng.integers(1, 4))
    cv2.polylines(mask, [main.round().astype(np.int32)], False, 1, thickness, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 3))):
        origin = main[int(rng.integers(0, len(main)))]
        branch_heading = heading + rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.1)
        branch = _random_walk(
            rng, (float(origin[0]), float(origin[1])), branch_heading, rng.uniform(20, 90)
        )
        cv2.polylines(mask, [branch.round().astype(np.int32)], False, 1, 1, cv2.LINE_AA)
    mask = (mask > 0).astype(np.uint8)
    if rng.random() < 0.3:
        # Sealed cracks: a wider band of fresh bitumen around the crack itself.
        band = cv2.dilate(mask, np.ones((7, 7), np.uint8))
        _darken(ground, band, rng.uniform(0.25, 0.45), np.array([12.0, 12.0, 14.0]))
        mask = band
    _darken(ground, mask, rng.uniform(0.55, 0.85), np.array([15.0, 14.0, 13.0]))
    return mask


def draw_longitudinal_crack(
    ground: np.ndarray, rng: Rng, centre: tuple[float, float]
) -> np.ndarray:
    # Ground y is the direction of travel, so longitudinal cracks run along y.
    return _crack(ground, rng, centre, np.pi / 2 + rng.normal(0.0, 0.18))


def draw_transverse_crack(ground: np.ndarray, rng: Rng, centre: tuple[float, float]) -> np.ndarray:
    return _crack(ground, rng, centre, rng.normal(0.0, 0.18) + rng.choice([0.0, np.pi]))


def draw_alligator_crack(ground: np.ndarray, rng: Rng, centre: tuple[float, float]) -> np.ndarray:
    height, width = ground.shape[:2]
    radius_x, radius_y = rng.uniform(45, 140), rng.uniform(40, 130)
    region = np.zeros((height, width), np.uint8)
    axes = (int(radius_x), int(radius_y))
    centre_px = (int(centre[0]), int(centre[1]))
    cv2.ellipse(region, centre_px, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    # Cracked regions are usually a little discoloured and ravelled as a whole.
    _darken(ground, region, rng.uniform(0.05, 0.2), np.array([30.0, 30.0, 30.0]))
    cells = int(rng.integers(14, 45))
    subdiv = cv2.Subdiv2D((0, 0, width, height))
    for _ in range(cells):
        point_x = float(np.clip(centre[0] + rng.uniform(-1, 1) * radius_x, 1, width - 2))
        point_y = float(np.clip(centre[1] + rng.uniform(-1, 1) * radius_y, 1, height - 2))
        subdiv.insert((point_x, point_y))
    facets, _ = subdiv.getVoronoiFacetList([])
    lines = np.zeros((height, width), np.uint8)
    for facet in facets:
        ring = np.vstack([facet, facet[:1]]).astype(np.float32)
        jagged = [ring[0]]
        for a, b in itertools.pairwise(ring):
            pieces = max(2, int(np.hypot(*(b - a)) / 8))
            ts = np.linspace(0, 1, pieces + 1)[1:, None]
            jagged.extend(a + (b - a) * ts + rng.normal(0, 1.6, (pieces, 2)))
        poly = np.array(jagged).round().astype(np.int32)
        cv2.polylines(lines, [poly], False, 1, int(rng.integers(1, 3)), cv2.LINE_AA)
    mask = ((lines > 0) & (region > 0)).astype(np.uint8)
    _darken(ground, mask, rng.uniform(0.5, 0.8), np.array([14.0, 14.0, 14.0]))
    return mask


def draw_pothole(ground: np.ndarray, rng: Rng, centre: tuple[float, float]) -> np.ndarray:
    height, width = ground.shape[:2]
    radius = rng.uniform(22, 105)
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    wobble = np.ones_like(angles)
    for harmonic in (2, 3, 5, 7):
        wobble += rng.uniform(0, 0.35 / harmonic * 2) * np.cos(
            harmonic * angles + rng.uniform(0, 6)
        )
    squash = rng.uniform(0.55, 1.0)
    rotation = rng.uniform(0, np.pi)
    xs = radius * wobble * np.cos(angles)
    ys = radius * wobble * np.sin(angles) * squash
    rot_x = xs * np.cos(rotation) - ys * np.sin(rotation) + centre[0]
    rot_y = xs * np.sin(rotation) + ys * np.cos(rotation) + centre[1]
    polygon = np.stack([rot_x, rot_y], axis=1).round().astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [polygon], 1)
    # Raised, broken rim: a lighter ring of loose aggregate around the hole.
    rim = cv2.dilate(mask, np.ones((5, 5), np.uint8)) - mask
    ground[rim > 0] = np.clip(ground[rim > 0] * rng.uniform(1.05, 1.3), 0, 255)
    inside = mask > 0
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    depth = depth / max(float(depth.max()), 1.0)
    # Sunlight from one side: the near wall of the hole is in shadow.
    light_x, light_y = np.cos(rotation * 2), np.sin(rotation * 2)
    ys_grid, xs_grid = np.nonzero(inside)
    side = ((xs_grid - centre[0]) * light_x + (ys_grid - centre[1]) * light_y) / radius
    if rng.random() < 0.25:
        water = np.array([rng.uniform(60, 110), rng.uniform(70, 120), rng.uniform(80, 135)])
        shade = (0.85 + 0.25 * side)[:, None]
        ground[ys_grid, xs_grid] = water * shade + rng.normal(0, 3, (len(xs_grid), 3))
    else:
        base = ground[ys_grid, xs_grid] * rng.uniform(0.35, 0.6)
        gravel = rng.normal(0, rng.uniform(6, 16), (len(xs_grid), 1))
        shade = (0.75 + 0.3 * depth[ys_grid, xs_grid] + 0.25 * side)[:, None]
        ground[ys_grid, xs_grid] = np.clip(base * shade + gravel, 0, 255)
    return mask


def draw_manhole(ground: np.ndarray, rng: Rng, centre: tuple[float, float]) -> np.ndarray:
    height, width = ground.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    centre_px = (int(centre[0]), int(centre[1]))
    radius = int(rng.uniform(26, 62))
    square = rng.random() < 0.25
    if square:
        half = radius
        cv2.rectangle(
            mask,
            (centre_px[0] - half, centre_px[1] - half),
            (centre_px[0] + half, centre_px[1] + half),
            1,
            -1,
        )
    else:
        cv2.circle(mask, centre_px, radius, 1, -1, cv2.LINE_AA)
    metal = np.array([rng.uniform(45, 95)] * 3) + rng.normal(0, 6, 3)
    if rng.random() < 0.35:
        metal += np.array([28.0, 10.0, -8.0])  # rusted cast iron
    pattern = np.zeros((height, width), np.float32)
    if rng.random() < 0.5:
        spacing = int(rng.integers(5, 10))
        for offset in range(-radius, radius, spacing):
            cv2.line(
                pattern,
                (centre_px[0] + offset, centre_px[1] - radius),
                (centre_px[0] + offset, centre_px[1] + radius),
                1.0,
                2,
            )
            cv2.line(
                pattern,
                (centre_px[0] - radius, centre_px[1] + offset),
                (centre_px[0] + radius, centre_px[1] + offset),
                1.0,
                2,
            )
    else:
        for ring in range(radius // 3, radius, max(4, radius // 5)):
            cv2.circle(pattern, centre_px, ring, 1.0, 2, cv2.LINE_AA)
    inside = mask > 0
    contrast = rng.uniform(18, 45)
    ground[inside] = np.clip(metal + contrast * pattern[inside][:, None], 0, 255)
    frame = cv2.dilate(mask, np.ones((5, 5), np.uint8)) - mask
    frame_colour = metal * rng.uniform(0.6, 1.4)
    ground[frame > 0] = np.clip(frame_colour, 0, 255)
    return cv2.dilate(mask, np.ones((5, 5), np.uint8))


# Index equals the class id in CLASS_NAMES.
DRAWERS: tuple[Drawer, ...] = (
    draw_longitudinal_crack,
    draw_transverse_crack,
    draw_alligator_crack,
    draw_pothole,
    draw_manhole,
)
