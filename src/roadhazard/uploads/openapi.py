"""The OpenAPI request body of an image upload: the image(s) and a parameters model's fields,
as JSON (images as base64) or as a multipart form (images as files).

FastAPI cannot derive it: the handler's dependency reads the body itself, since one operation
takes two media types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from roadhazard.inputs import NumbersTogether

# Nested models are named by reference: they are components of the document already (the
# responses use them), and a request body cannot carry `$defs` of its own.
COMPONENT_REF = "#/components/schemas/{model}"


def image_request_body(
    field: str,
    params_model: type[BaseModel],
    *,
    many: bool,
    image_required: bool,
    together: NumbersTogether | None = None,
    form_fields: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON schema of `params_model` with `field` as base64 (a list of them if `many`), or
    the same fields as a multipart form beside `field` as file(s). Form fields keep their types
    and bounds (a client sends them as text), without the null a form cannot send, and
    `together` as a form's rule. `form_fields` documents a form field that differs from its
    JSON key (a list sent as one comma-separated text)."""
    fields = params_model.model_json_schema(ref_template=COMPONENT_REF)
    fields.pop("$defs", None)
    required = [*fields.get("required", []), *([field] if image_required else [])]
    properties = fields["properties"]
    image = {"type": "string", "minLength": 1}
    base64_image = {**image, "description": "base64 or a data URL"}
    json_image = _list_of(base64_image) if many else base64_image
    json_schema = {
        **fields,
        # As for the other fields, a JSON null is an image not sent (uploads.body).
        "properties": {
            field: json_image if image_required else _or_null(json_image),
            **properties,
        },
        "required": required,
    }
    file = {**image, "format": "binary"}
    form_schema = {
        "type": "object",
        "required": required,
        "properties": {
            field: _list_of(file) if many else file,
            **{name: _not_null(schema) for name, schema in properties.items()},
            **(form_fields or {}),
        },
        "additionalProperties": False,
        **(together.form_rule() if together else {}),
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


def form_request_body(
    params_model: type[BaseModel], *, media_types: tuple[str, ...], rules: dict[str, Any]
) -> dict[str, Any]:
    """A request body of text fields only: `params_model`'s fields as a form in each of
    `media_types`, without the null a form cannot send, with `rules` (which fields go together)
    beside them. Fields the model does not name are allowed: the model ignores them."""
    fields = params_model.model_json_schema(ref_template=COMPONENT_REF)
    schema = {
        "type": "object",
        "required": fields.get("required", []),
        "properties": {name: _not_null(item) for name, item in fields["properties"].items()},
        **rules,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": schema} for media_type in media_types},
        }
    }


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item, "minItems": 1}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in schema.items() if key != "default"}
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        del kept["anyOf"]
        kept.update(branches[0])
    return kept
