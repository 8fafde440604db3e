"""Types every request model shares, and reading form fields into them.

Numbers are strict: in a JSON body `false` and `"0.5"` are not numbers (pydantic's lax mode
would take them as 0 and 0.5), although a JSON integer is a fine float. Infinity and NaN are
refused everywhere: nothing a client measures is infinite, and a NaN passes every `ge`/`le`
bound unnoticed. Form fields are text, so `form_values` parses the ones a model declares as
numbers or lists before the strict model sees them.

Times are RFC 3339 text (ISO 8601 with a timezone), as the document's `date-time` says: lax
pydantic would also read a number ("0.5", or a JSON 0) as a Unix timestamp.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    Strict,
)

# Redis geo indexes (GEOADD, GEOSEARCH) take latitudes only within the Web Mercator limit;
# beyond it Redis answers an error, so every latitude that reaches one is bounded by this.
GEO_MAX_LAT = 85.05112878


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is before the first representable UTC
        raise ValueError("the time cannot be expressed in UTC") from None


# JSON Schema's `date-time` (RFC 3339 section 5.6); T and Z may be lower case there.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, datetime):  # built in Python, not sent
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError(
            "expected an ISO 8601 date-time with a timezone, e.g. 2024-05-01T12:00:00Z"
        )
    return value


def _whole_float(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


Number = Annotated[float, Strict(), AllowInfNan(False)]
# An instant with a timezone, converted to UTC as it is read: every later comparison and
# timestamp then works, and an instant beyond what Python represents in UTC is a 422.
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_in_utc)]
Integer = Annotated[int, Strict()]
# JSON Schema counts 1.0 as an integer, so the document's `integer` admits it (true and "1" stay
# refused). It goes after an Integer's bounds, Annotated[Integer, Field(ge=1), WHOLE_FLOATS_TOO]:
# before them, pydantic would document the bounds as unknown keywords ("ge"), not "minimum".
WHOLE_FLOATS_TOO = BeforeValidator(_whole_float)
Latitude = Annotated[Number, Field(ge=-GEO_MAX_LAT, le=GEO_MAX_LAT)]
Longitude = Annotated[Number, Field(ge=-180, le=180)]


class FormFields(dict[str, Any]):
    """Fields read from a multipart form: text, which `form_values` parses for a model."""


def form_values(model: type[BaseModel], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Form fields as the JSON values `model` expects: numbers parsed, and a list sent as one
    comma-separated field ("0,3") split. Text that does not parse stays text, so validation
    names the field."""
    types = _property_types(model)
    return {name: _parsed(types.get(name, ()), value) for name, value in fields.items()}


def _parsed(types: tuple[str, ...], value: Any) -> Any:
    if isinstance(value, list):
        return [_scalar(types, item) for item in value]
    if not isinstance(value, str):
        return value
    if "array" in types:
        # An empty part stays "", which validation refuses: "1,,2" is no list of ids. Spaces
        # around a comma are part of the separator ("one, two"); other whitespace is not, as
        # the documented form patterns say.
        return [_scalar(types, part.strip(" ")) for part in value.split(",")]
    return _scalar(types, value)


def _scalar(types: tuple[str, ...], text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        if "integer" in types:
            return _integer(text)
        if "number" in types:
            return float(text)
    except ValueError:
        pass
    return text


def _integer(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)  # "5.0", which Integer takes as 5; "5.5" it refuses


@functools.cache
def _property_types(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Each property's JSON types, an array's item types included: {"classes": ("array",
    "integer")}."""
    properties: dict[str, Any] = model.model_json_schema().get("properties", {})
    return {name: tuple(_types(schema)) for name, schema in properties.items()}


def _types(schema: Mapping[str, Any]) -> list[str]:
    found = [schema["type"]] if isinstance(schema.get("type"), str) else []
    for branch in schema.get("anyOf", []):
        found += _types(branch)
    if isinstance(schema.get("items"), Mapping):
        found += _types(schema["items"])
    return found


@dataclass(frozen=True)
class NumbersTogether:
    """Numbers that mean something only together, as lat and lon: all of `names` are sent, or
    none of them nor any of `needing_them`. A model's validator refuses the rest with a 422;
    this says the same in the document, for a JSON body and for a form."""

    names: tuple[str, ...]
    needing_them: tuple[str, ...] = ()

    def json_rule(self) -> dict[str, Any]:
        """For a model's json_schema_extra. Not `dependentRequired`: to the model a JSON null is
        a field not sent, to `dependentRequired` it is one given, so `"lat": null, "lon": 4`
        would be schema-valid and refused."""
        absent = {name: {"type": "null"} for name in (*self.names, *self.needing_them)}
        both = {name: {"type": "number"} for name in self.names}
        return {
            "anyOf": [{"required": list(self.names), "properties": both}, {"properties": absent}]
        }

    def form_rule(self) -> dict[str, Any]:
        """A form has no null, so which fields are present is the whole rule; schemathesis also
        cannot cover an `anyOf` beside a file field."""
        needs = {name: [other for other in self.names if other != name] for name in self.names}
        needs.update({name: list(self.names) for name in self.needing_them})
        return {"dependentRequired": needs}
