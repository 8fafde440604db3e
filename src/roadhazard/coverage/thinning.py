"""Thinning a track for display: Douglas-Peucker, with the tolerance raised until the line has
at most the points a map needs. Plain arithmetic on (lat, lon) pairs, in local metres."""

from __future__ import annotations

import math
from collections.abc import Sequence

METRES_PER_DEGREE = 111_320.0
# A few metres is within a phone's GPS error: points that close to the line add nothing.
START_TOLERANCE_M = 3.0
# Each try doubles the tolerance; 2^24 x 3 m is more than the Earth, so the loop ends.
MAX_TRIES = 24

LatLon = tuple[float, float]


def thin(points: Sequence[LatLon], max_points: int) -> list[LatLon]:
    """The fewest points, kept in order, that stay within the tolerance of the track, at most
    `max_points` (at least 2): the ends are always kept."""
    if len(points) <= 2:
        return list(points)
    tolerance = START_TOLERANCE_M
    kept = _douglas_peucker(points, tolerance)
    for _ in range(MAX_TRIES):
        if len(kept) <= max(2, max_points):
            break
        tolerance *= 2
        kept = _douglas_peucker(points, tolerance)
    return [points[i] for i in kept]


def _douglas_peucker(points: Sequence[LatLon], tolerance_m: float) -> list[int]:
    """Indexes of the kept points. Iterative, so a long track cannot exhaust the stack."""
    scale = math.cos(math.radians(points[0][0])) * METRES_PER_DEGREE
    xy = [(lon * scale, lat * METRES_PER_DEGREE) for lat, lon in points]
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    pending = [(0, len(points) - 1)]
    while pending:
        first, last = pending.pop()
        farthest, distance = first, 0.0
        for index in range(first + 1, last):
            gap = _distance_to_segment(xy[index], xy[first], xy[last])
            if gap > distance:
                farthest, distance = index, gap
        if distance > tolerance_m:
            keep[farthest] = True
            pending += [(first, farthest), (farthest, last)]
    return [index for index, kept in enumerate(keep) if kept]


def _distance_to_segment(
    point: tuple[float, float], start: tuple[float, float], end: tuple[float, float]
) -> float:
    dx, dy = end[0] - start[0], end[1] - start[1]
    length2 = dx * dx + dy * dy
    if length2 == 0:
        return math.dist(point, start)
    along = max(0.0, min(1.0, ((point[0] - start[0]) * dx + (point[1] - start[1]) * dy) / length2))
    return math.dist(point, (start[0] + along * dx, start[1] + along * dy))
