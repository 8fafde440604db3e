"""What the GeoReport v2 specification (wiki.open311.org/GeoReport_v2, and its Service
Discovery page) says a document holds, and checks of our answers against it.

`ELEMENTS` is the specification's response tables as a tree: for each element, the child
elements it may hold (None: text only). A container the specification marks as a list (`⇊`)
holds one kind of item element. The XML check parses an answer with a real parser and walks it
against this tree; `spark` turns XML into JSON by the specification's Spark convention, so the
JSON answer can be compared with the XML one value for value.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx

Tree = dict[str, "Tree | None"]


def _leaves(*names: str) -> Tree:
    return dict.fromkeys(names)


# The GET Service List table, in the order of the specification's example.
SERVICE_FIELDS = (
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
)
# GET Service Requests / GET Service Request, in the example's order.
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
# POST Service Request's response (and the token lookup's): a request as just created.
CREATED_FIELDS = ("service_request_id", "token", "service_notice", "account_id")
ATTRIBUTE_FIELDS = (
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
)
ENDPOINT_FIELDS = ("specification", "url", "changeset", "type")

ELEMENTS: Tree = {
    "discovery": {
        **_leaves("changeset", "contact", "key_service"),
        "endpoints": {
            "endpoint": {**_leaves(*ENDPOINT_FIELDS), "formats": _leaves("format")},
        },
    },
    "services": {"service": _leaves(*SERVICE_FIELDS)},
    "service_definition": {
        "service_code": None,
        "attributes": {
            "attribute": {
                **_leaves(*ATTRIBUTE_FIELDS),
                "values": {"value": _leaves("key", "name")},
            }
        },
    },
    "service_requests": {
        "request": _leaves(*dict.fromkeys([*REQUEST_FIELDS, *CREATED_FIELDS])),
    },
    "errors": {"error": _leaves("code", "description")},
}
# The containers whose children the Spark convention makes a JSON list.
LISTS = frozenset(
    {"services", "service_requests", "errors", "endpoints", "formats", "attributes", "values"}
)


class NotInSpecification(AssertionError):
    pass


def check_elements(element: ET.Element, allowed: Tree | None, path: str = "") -> None:
    """Every element of `element` is one the specification names at its place."""
    here = f"{path}/{element.tag}"
    if allowed is None:
        if len(element):
            raise NotInSpecification(f"{here} holds text only, not {element[0].tag}")
        return
    if element.text and element.text.strip():
        raise NotInSpecification(f"{here} holds elements, not text")
    for child in element:
        if child.tag not in allowed:
            raise NotInSpecification(f"{here} may not hold {child.tag}")
        check_elements(child, allowed[child.tag], here)


def xml_answer(response: httpx.Response, root: str) -> ET.Element:
    """The answer's XML document, parsed and checked: the specification's content type and
    declaration, `root` at the top, and only the elements it names."""
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    document = ET.fromstring(response.content)
    assert document.tag == root
    check_elements(document, ELEMENTS[root])
    return document


def json_answer(response: httpx.Response) -> Any:
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.json()


def spark(element: ET.Element) -> Any:
    """An XML element as JSON, by the Spark convention: a list container's items as a list,
    other elements as an object of their children, text as text and an empty element as null."""
    if element.tag in LISTS:
        return [spark(child) for child in element]
    if len(element):
        return {child.tag: spark(child) for child in element}
    return element.text or None


def as_text(value: Any) -> Any:
    """A JSON value as the Spark convention reads it back from XML: every scalar as its text."""
    if isinstance(value, list):
        return [as_text(item) for item in value]
    if isinstance(value, dict):
        return {key: as_text(item) for key, item in value.items()}
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or value == "":
        return None
    return str(value)


def assert_same_document(json_response: httpx.Response, xml_response: httpx.Response) -> None:
    """The two formats of one answer say the same, value for value, in the same order."""
    body = json_answer(json_response)
    root = ET.fromstring(xml_response.content)
    assert spark(root) == as_text(body)
    keys_in_order = [list(item) for item in body] if isinstance(body, list) else [list(body)]
    tags_in_order = (
        [[child.tag for child in item] for item in root]
        if isinstance(body, list)
        else [[child.tag for child in root]]
    )
    assert keys_in_order == tags_in_order
