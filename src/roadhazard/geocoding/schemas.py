"""Addresses and places: the dataclasses the service passes around and stores, and the
Pydantic models the API answers with."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

AddressSource = Literal["nominatim", "offline"]
Provider = Literal["nominatim", "offline", "none"]

_SOURCES: frozenset[str] = frozenset({"nominatim", "offline"})


def _text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"address field {name!r} must be text or null")


def _number(data: Mapping[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"field {name!r} must be a number or null")
    return float(value)


@dataclass(frozen=True)
class Address:
    """What a report stores about where it is. `country_code` is ISO 3166-1 alpha-2 in upper
    case whichever source gave it (Nominatim writes it in lower case)."""

    display_name: str
    road: str | None
    house_number: str | None
    suburb: str | None
    city: str | None
    county: str | None
    state: str | None
    postcode: str | None
    country: str | None
    country_code: str | None
    source: AddressSource
    distance_km: float | None = None  # offline only: how far the named place is from the point

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Address:
        """Raises ValueError on a malformed document; unknown fields are ignored, so a stored
        address written by a newer version still reads."""
        display_name = data.get("display_name")
        source = data.get("source")
        if not isinstance(display_name, str):
            raise ValueError("address field 'display_name' must be text")
        if source not in _SOURCES:
            raise ValueError(f"address source must be one of {sorted(_SOURCES)}")
        return cls(
            display_name=display_name,
            road=_text(data, "road"),
            house_number=_text(data, "house_number"),
            suburb=_text(data, "suburb"),
            city=_text(data, "city"),
            county=_text(data, "county"),
            state=_text(data, "state"),
            postcode=_text(data, "postcode"),
            country=_text(data, "country"),
            country_code=_text(data, "country_code"),
            source=source,
            distance_km=_number(data, "distance_km"),
        )

    @classmethod
    def from_json(cls, raw: str) -> Address:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("an address is a JSON object")
        return cls.from_dict(data)


@dataclass(frozen=True)
class Place:
    """One forward geocoding result."""

    lat: float
    lon: float
    display_name: str
    address: Address | None
    category: str | None  # the main OSM tag's key, e.g. "highway" or "place"
    importance: float | None
    place_type: str | None = None  # that tag's value, e.g. "residential" or "city"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Place:
        lat, lon = _number(data, "lat"), _number(data, "lon")
        display_name = data.get("display_name")
        if lat is None or lon is None or not isinstance(display_name, str):
            raise ValueError("a place needs lat, lon and display_name")
        address = data.get("address")
        if address is not None and not isinstance(address, dict):
            raise ValueError("a place's address is an object or null")
        return cls(
            lat=lat,
            lon=lon,
            display_name=display_name,
            address=Address.from_dict(address) if address is not None else None,
            category=_text(data, "category"),
            importance=_number(data, "importance"),
            place_type=_text(data, "place_type"),
        )


class AddressOut(BaseModel):
    """An address as the API shows it; the reports API uses it too."""

    display_name: str = Field(examples=["Unter den Linden 1, Mitte, Berlin, 10117, Germany"])
    road: str | None = None
    house_number: str | None = None
    suburb: str | None = None
    city: str | None = None
    county: str | None = None
    state: str | None = None
    postcode: str | None = None
    country: str | None = None
    country_code: str | None = Field(
        default=None, description="ISO 3166-1 alpha-2, upper case.", examples=["DE"]
    )
    source: AddressSource = Field(
        description="`nominatim`: an online street address; `offline`: the nearest town or "
        "district from a bundled gazetteer (GeoNames), no street."
    )
    distance_km: float | None = Field(
        default=None,
        description="Offline only: how far the named place lies from the point.",
    )

    @classmethod
    def from_address(cls, a: Address) -> AddressOut:
        return cls.model_validate(a.to_dict())


class PlaceOut(BaseModel):
    lat: float
    lon: float
    display_name: str
    category: str | None = Field(description="The main OSM tag's key, e.g. `highway`.")
    type: str | None = Field(description="That tag's value, e.g. `residential`.")
    importance: float | None
    address: AddressOut | None

    @classmethod
    def from_place(cls, place: Place) -> PlaceOut:
        return cls(
            lat=place.lat,
            lon=place.lon,
            display_name=place.display_name,
            category=place.category,
            type=place.place_type,
            importance=place.importance,
            address=AddressOut.from_address(place.address) if place.address else None,
        )


class GeocodeResponse(BaseModel):
    query: str
    provider: Provider
    results: list[PlaceOut]


class ReverseGeocodeResponse(BaseModel):
    lat: float
    lon: float
    provider: Provider
    address: AddressOut | None = Field(description="null when there is no address near the point.")
