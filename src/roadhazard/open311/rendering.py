"""One answer in either of GeoReport v2's formats, chosen by the path's extension.

The JSON body is the document; the XML form is derived from it by the specification's Spark
convention read backwards: an object's keys become child elements in order, a list becomes
one child per item named for its container (`services` holds `service` elements), a null an
empty element, and true and false are written as such. The XML is built with ElementTree and
starts with the declaration the specification asks for.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
XML_MEDIA_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# The element each container repeats (the specification's `⇊` rows).
ITEM_ELEMENTS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}
# Characters XML 1.0 cannot carry at all, not even escaped (most C0 controls, lone surrogates,
# U+FFFE and U+FFFF); stored text (a description) may hold them, so they are left out.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Documents with more items than this are built in a thread, off the event loop.
INLINE_ITEMS = 50

T = TypeVar("T")


class Format(enum.StrEnum):
    JSON = "json"
    XML = "xml"

    @property
    def media_type(self) -> str:
        return JSON_MEDIA_TYPE if self is Format.JSON else XML_MEDIA_TYPE


def format_of_path(path: str) -> Format:
    """The format a path asks for by its extension; JSON unless it ends in .xml."""
    return Format.XML if path.endswith(".xml") else Format.JSON


def xml_document(root: str, body: Any) -> bytes:
    element = ET.Element(root)
    _fill(element, root, body)
    # ElementTree writes its own declaration with single quotes; the specification shows
    # this one.
    document: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=False)
    return XML_DECLARATION + document


def _fill(element: ET.Element, name: str, value: Any) -> None:
    if isinstance(value, list):
        item_name = ITEM_ELEMENTS[name]
        for item in value:
            _fill(ET.SubElement(element, item_name), item_name, item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _fill(ET.SubElement(element, key), key, item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_XML.sub("", str(value))


def encode(fmt: Format, root: str, body: Any) -> bytes:
    """`body` (JSON values) in `fmt`; `root` names the XML document's root element."""
    if fmt is Format.XML:
        return xml_document(root, body)
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def respond(
    fmt: Format,
    root: str,
    body: Any,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        encode(fmt, root, body),
        status_code=status_code,
        headers=dict(headers or {}),
        media_type=fmt.media_type,
    )


async def respond_list(
    fmt: Format, root: str, items: Sequence[T], body_of: Callable[[T], Any]
) -> Response:
    """A list of `items`, each written as `body_of` says (a pure function): a long list is
    mapped and encoded in a thread, so a thousand requests never hold up the event loop."""

    def build() -> bytes:
        return encode(fmt, root, [body_of(item) for item in items])

    content = build() if len(items) <= INLINE_ITEMS else await asyncio.to_thread(build)
    return Response(content, media_type=fmt.media_type)
