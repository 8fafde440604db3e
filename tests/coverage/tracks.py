"""Synthetic GPS tracks: positions at the centres of known geohash cells, so each frame's cell
is exact, and frames at given seconds after the test clock's start."""

from __future__ import annotations

from datetime import timedelta

from roadhazard.coverage.store import Scan
from roadhazard.reports.cells import bounds
from tests.coverage.conftest import NOW

# Four cells of 7 characters side by side along one street in Berlin, west to east.
STREET = ("u33dc0c", "u33dc0f", "u33dc0g", "u33dc0u")
# Their cell of 5 characters, and a box around the street.
DISTRICT = "u33dc"
STREET_BOX = (13.40, 52.515, 13.415, 52.525)


def centre(geohash: str) -> tuple[float, float]:
    box = bounds(geohash)
    return (box.min_lat + box.max_lat) / 2, (box.min_lon + box.max_lon) / 2


def scan_at(session_id: str, geohash: str, seconds: float, heading: float | None = 90.0) -> Scan:
    lat, lon = centre(geohash)
    return Scan(session_id, lat, lon, heading, NOW + timedelta(seconds=seconds))
