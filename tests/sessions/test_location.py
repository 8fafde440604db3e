"""A frame's position becomes a tracked location only within the Redis geo index's latitudes,
the one limit the inputs module names (GEO_MAX_LAT)."""

from __future__ import annotations

import math

from roadhazard.inputs import GEO_MAX_LAT
from roadhazard.reports.models import GeoPoint
from roadhazard.sessions.schemas import FrameParams
from roadhazard.sessions.service import _location


def frame_at(lat: float) -> FrameParams:
    # model_construct: the guard must hold even for values the schema would refuse.
    return FrameParams.model_construct(lat=lat, lon=4.89, accuracy_m=5.0)


def test_latitudes_up_to_the_geo_limit_are_kept_and_beyond_it_dropped() -> None:
    beyond = math.nextafter(GEO_MAX_LAT, math.inf)

    assert _location(frame_at(GEO_MAX_LAT)) == GeoPoint(GEO_MAX_LAT, 4.89, 5.0)
    assert _location(frame_at(-GEO_MAX_LAT)) == GeoPoint(-GEO_MAX_LAT, 4.89, 5.0)
    assert _location(frame_at(beyond)) is None
    assert _location(frame_at(-beyond)) is None
    assert _location(FrameParams()) is None
