"""Reading a request body that carries images: multipart files or base64 in JSON, within byte
limits, and the other fields as sent.

Detection, session frames and manual reports all take an image the same two ways, so the
parsing and its error mapping live here once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from roadhazard.errors import BadRequest, ContentTooLarge, RoadhazardError, UnsupportedMediaType
from roadhazard.inputs import FormFields

_DATA_URL_PREFIX = "data:"
# Bodies up to this size are parsed on the loop: their parse is shorter than a thread hop.
INLINE_JSON_BYTES = 256 * 1024
# Commas, colons and brackets a JSON body may hold (see _check_json_token_count).
MAX_JSON_TOKENS = 10_000


@dataclass
class ImageBody:
    """The images of one request in order, each read or refused, and its other fields as sent.

    A refused image (too large, bad base64) is kept as its error, so a batch can answer per
    image instead of failing as a whole.
    """

    items: list[bytes | RoadhazardError]
    fields: dict[str, Any] = field(default_factory=dict)


async def read_image_body(
    request: Request,
    *,
    field_name: str,
    many: bool,
    max_images: int,
    max_image_bytes: int,
    required: bool = True,
) -> ImageBody:
    """Reads the image(s) and the other fields; `required=False` allows a body without one."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        upload = await _read_multipart(request, field_name, max_images, max_image_bytes)
    elif content_type == "application/json" or content_type.endswith("+json"):
        upload = await _read_json(request, field_name, many, max_image_bytes)
    elif not content_type and not await request.body():
        raise BadRequest("The request body is empty; send an image.")
    else:
        raise UnsupportedMediaType(
            "Send multipart/form-data with an image file, or application/json with a "
            "base64-encoded image."
        )
    if not upload.items and required:
        raise BadRequest(f"No image was sent; put it in the '{field_name}' field.")
    if len(upload.items) > max_images:
        raise ContentTooLarge(
            f"{len(upload.items)} images were sent; at most {max_images} are accepted."
        )
    return upload


async def _read_multipart(
    request: Request, field_name: str, max_images: int, max_image_bytes: int
) -> ImageBody:
    try:
        form = await request.form(max_files=max_images + 1, max_fields=100)
    except MultiPartException as exc:
        raise BadRequest(f"Malformed multipart body: {exc.message}") from None
    images: list[bytes | RoadhazardError] = []
    fields: dict[str, Any] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name != field_name:
                    raise BadRequest(f"Unexpected file field '{name}'; use '{field_name}'.")
                images.append(await _file_content(value, field_name, max_image_bytes))
            elif name == field_name:
                raise BadRequest(f"The '{field_name}' field must be a file upload.")
            else:
                fields.setdefault(name, []).append(value)
    finally:
        await form.close()
    return ImageBody(images, FormFields({k: v[0] if len(v) == 1 else v for k, v in fields.items()}))


async def _file_content(
    file: UploadFile, field_name: str, max_image_bytes: int
) -> bytes | RoadhazardError:
    data = await file.read(max_image_bytes + 1)
    # An empty file is refused with the request, as the document's minLength says (and as an
    # empty base64 string is): it is a broken client, not one bad image of a batch.
    if not data:
        raise BadRequest(f"A file in the '{field_name}' field is empty.")
    return _checked(data, max_image_bytes)


async def _read_json(
    request: Request, field_name: str, many: bool, max_image_bytes: int
) -> ImageBody:
    raw = await request.body()
    if not raw:
        raise BadRequest("The request body is empty; send an image.")
    if len(raw) <= INLINE_JSON_BYTES:
        return _json_upload(raw, field_name, many, max_image_bytes)
    # Parsing and base64-decoding tens of MB takes a while; in a thread, other requests (and
    # /health) get the loop between its steps.
    return await asyncio.to_thread(_json_upload, raw, field_name, many, max_image_bytes)


def _json_upload(raw: bytes, field_name: str, many: bool, max_image_bytes: int) -> ImageBody:
    _check_json_token_count(raw)
    body = parse_json_body(raw)
    if not isinstance(body, dict):
        raise BadRequest("The JSON body must be an object.")
    value = body.pop(field_name, None)
    if value is None:
        return ImageBody([], body)
    encoded = value if many else [value]
    # An empty string is refused with the request, as the document's minLength says.
    if not isinstance(encoded, list) or not all(isinstance(v, str) and v for v in encoded):
        shape = "a list of base64 strings" if many else "a non-empty base64 string or data URL"
        raise BadRequest(f"'{field_name}' must be {shape}.")
    return ImageBody([_decoded_or_refused(v, max_image_bytes) for v in encoded], body)


def _check_json_token_count(raw: bytes) -> None:
    # The parser holds the GIL for a whole document, so no thread keeps the loop free while it
    # builds millions of small objects (a 60 MB list of zeros takes seconds). A body here is a
    # few base64 strings and a few fields, so counting the separators and brackets first
    # (a fast byte scan, strings included) bounds the work.
    tokens = sum(raw.count(char) for char in (b",", b":", b"[", b"{"))
    if tokens > MAX_JSON_TOKENS:
        raise BadRequest(
            f"The JSON body holds more than {MAX_JSON_TOKENS} values; send the image(s) as"
            " base64 strings and only the documented fields."
        )


def parse_json_body(raw: bytes) -> Any:
    """The JSON document in `raw`, or a 400 problem: for invalid JSON, for the non-standard
    NaN and Infinity constants, and for nesting deeper than the parser's recursion limit
    (a RecursionError, which would otherwise escape as a 500)."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError and a refused constant
        raise BadRequest("The body is not valid JSON.") from None
    except RecursionError:
        raise BadRequest("The JSON body is nested too deeply.") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _decoded_or_refused(encoded: str, max_image_bytes: int) -> bytes | RoadhazardError:
    try:
        return decode_base64_image(encoded, max_image_bytes)
    except RoadhazardError as exc:
        return exc


def _checked(data: bytes, max_image_bytes: int) -> bytes | RoadhazardError:
    return data if len(data) <= max_image_bytes else _too_large(max_image_bytes)


def decode_base64_image(encoded: str, max_image_bytes: int) -> bytes:
    """Accepts plain base64 or a data URL (data:image/jpeg;base64,...)."""
    if encoded.startswith(_DATA_URL_PREFIX):
        header, _, encoded = encoded.partition(",")
        if not header.endswith(";base64"):
            raise BadRequest("Only base64 data URLs are accepted.")
    if len(encoded) > (max_image_bytes + 2) // 3 * 4 + 4:
        raise _too_large(max_image_bytes)
    try:
        data = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("The image is not valid base64.") from None
    return _within_limit(data, max_image_bytes)


def _within_limit(data: bytes, max_image_bytes: int) -> bytes:
    if len(data) > max_image_bytes:
        raise _too_large(max_image_bytes)
    return data


def _too_large(max_image_bytes: int) -> ContentTooLarge:
    return ContentTooLarge(f"An image may have at most {max_image_bytes} bytes.")
