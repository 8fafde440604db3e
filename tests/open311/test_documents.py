"""Discovery, the service list and service definitions, in both formats, against the
specification's element lists and examples."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from tests.open311.conftest import V2, Open311
from tests.open311.spec import (
    ELEMENTS,
    ENDPOINT_FIELDS,
    SERVICE_FIELDS,
    NotInSpecification,
    assert_same_document,
    check_elements,
    json_answer,
    xml_answer,
)

from roadhazard import __version__
from roadhazard.taxonomy import load_taxonomy


async def test_discovery_names_this_endpoint_in_both_formats(open311: Open311) -> None:
    as_json = await open311.client.get(f"{V2}/discovery.json")
    as_xml = await open311.client.get(f"{V2}/discovery.xml")

    assert (as_json.status_code, as_xml.status_code) == (200, 200)
    document = xml_answer(as_xml, "discovery")
    assert [child.tag for child in document] == [
        "changeset",
        "contact",
        "key_service",
        "endpoints",
    ]
    endpoint = document.find("endpoints/endpoint")
    assert endpoint is not None
    assert [child.tag for child in endpoint] == [*ENDPOINT_FIELDS, "formats"]
    body = json_answer(as_json)
    assert body["changeset"] == __version__
    assert all(body[field] for field in ("contact", "key_service"))
    assert body["endpoints"] == [
        {
            "specification": "http://wiki.open311.org/GeoReport_v2",
            # The request's own base URL: what the client called.
            "url": "http://roadhazard.test/open311/v2",
            "changeset": __version__,
            "type": "test",
            "formats": ["text/xml", "application/json"],
        }
    ]
    assert_same_document(as_json, as_xml)


async def test_the_service_list_is_the_taxonomy(open311: Open311) -> None:
    as_json = await open311.client.get(f"{V2}/services.json")
    as_xml = await open311.client.get(f"{V2}/services.xml?jurisdiction_id=city.gov")

    document = xml_answer(as_xml, "services")
    hazards = load_taxonomy().hazards
    assert [service.findtext("service_code") for service in document] == [h.code for h in hazards]
    # Every field of the specification's example, in its order.
    assert {tuple(child.tag for child in service) for service in document} == {SERVICE_FIELDS}
    pothole = next(s for s in json_answer(as_json) if s["service_code"] == "D40")
    assert pothole == {
        "service_code": "D40",
        "service_name": "Pothole",
        "description": "A hole where the road surface has broken away.",
        "metadata": False,
        "type": "realtime",
        "keywords": "potholes, pot hole, pot-hole",
        "group": "Road hazards",
    }
    assert document.find("service/metadata").text == "false"  # type: ignore[union-attr]
    assert_same_document(as_json, as_xml)


async def test_a_service_definition_has_no_attributes(open311: Open311) -> None:
    # metadata is false for every service: the call is unnecessary, and answers an empty list.
    as_json = await open311.client.get(f"{V2}/services/D40.json")
    as_xml = await open311.client.get(f"{V2}/services/D40.xml")

    assert json_answer(as_json) == {"service_code": "D40", "attributes": []}
    document = xml_answer(as_xml, "service_definition")
    assert [(child.tag, len(child)) for child in document] == [
        ("service_code", 0),
        ("attributes", 0),
    ]
    assert_same_document(as_json, as_xml)


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_an_unknown_service_is_404_in_the_error_format(open311: Open311, fmt: str) -> None:
    # The specification's sample URL of a definition.
    answer = await open311.client.get(f"{V2}/services/033.{fmt}?jurisdiction_id=city.gov")

    assert answer.status_code == 404
    if fmt == "xml":
        error = xml_answer(answer, "errors").find("error")
        assert error is not None
        assert error.findtext("code") == "404"
        assert "033" in (error.findtext("description") or "")
    else:
        assert json_answer(answer) == [
            {"code": 404, "description": "There is no service '033'; services.json lists them."}
        ]


def test_the_element_check_refuses_what_the_specification_does_not_name() -> None:
    good = "<services><service><service_code>001</service_code></service></services>"
    check_elements(ET.fromstring(good), ELEMENTS["services"])
    for bad in (
        "<services><service><colour>red</colour></service></services>",
        "<services><request/></services>",
        "<services><service><group><x/></group></service></services>",
    ):
        with pytest.raises(NotInSpecification):
            check_elements(ET.fromstring(bad), ELEMENTS["services"])
