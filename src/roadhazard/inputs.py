"""Types every request model shares, and reading form fields into them.

Numbers are strict: in a JSON body `false` and `"0.5"` are not numbers (pydantic's lax mode
would take them as 0 and 0.5), although a JSON integer is a fine float. Infinity and NaN are
refused everywhere: nothing a client measures is infinite, and a NaN passes every `ge`/`le`
bound unnoticed. Form fields are text, so `form_values` parses the ones a model declares as
numbers or lists before the strict model sees them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AllowInfNan, AwareDatetime, BaseModel, Field, Strict

# Redis geo indexes (GEOADD, GEOSEARCH) take latitudes only within the Web Mercator limit;
# beyond it Redis answers an error, so every latitude that reaches one is bounded by this.
GEO_MAX_LAT = 85.05112878


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is before the first representable UTC
        raise ValueError("the time cannot be expressed in UTC") from None


Number = Annotated[float, Strict(), AllowInfNan(False)]
# An instant with a timezone, converted to UTC as it is read: every later comparison and
# timestamp then works, and an instant beyond what Python represents in UTC is a 422.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
Integer = Annotated[int, Strict()]
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
        # An empty part stays "", which validation refuses: "1,,2" is no list of ids.
        return [_scalar(types, part.strip()) for part in value.split(",")]
    return _scalar(types, value)


def _scalar(types: tuple[str, ...], text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        if "integer" in types:
            return int(text)
        if "number" in types:
            return float(text)
    except ValueError:
        pass
    return text


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


def image_request_body(fields: dict[str, Any], *, image_required: bool) -> dict[str, Any]:
    """The OpenAPI request body of a handler that reads the body itself: the JSON schema of
    its other `fields` (a model's schema) with `image` as base64, or the same fields as a
    multipart form beside an `image` file. Form fields keep their types and bounds (a client
    sends them as text), without the null a form cannot send."""
    required = [*fields.get("required", []), *(["image"] if image_required else [])]
    properties = fields["properties"]
    image = {"type": "string", "minLength": 1}
    json_schema = {
        **fields,
        "properties": {"image": {**image, "description": "base64 or a data URL"}, **properties},
        "required": required,
    }
    form_schema = {
        "type": "object",
        "required": required,
        "properties": {
            "image": {**image, "format": "binary"},
            **{name: _not_null(schema) for name, schema in properties.items()},
        },
        "additionalProperties": False,
        **{key: fields[key] for key in ("dependentRequired",) if key in fields},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": json_schema},
                "multipart/form-data": {"schema": form_schema},
            },
        }
    }


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in schema.items() if key != "default"}
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        del kept["anyOf"]
        kept.update(branches[0])
    return kept
