"""Service requests over HTTP: posted as the specification's example posts one, read back in
both formats, de-duplicated, replayed with an Idempotency-Key, and listed with the
specification's arguments, window and limit."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from tests.factories import jpeg
from tests.open311.conftest import DAMRAK, V2, Open311
from tests.open311.spec import (
    REQUEST_FIELDS,
    assert_same_document,
    json_answer,
    xml_answer,
)

from roadhazard.reports import keys
from roadhazard.reports.models import GeoPoint, ManualReport
from roadhazard.taxonomy import resolve
from roadhazard.timeutil import iso

# The specification's example POST, field for field (our service code and position).
PERSONAL = {
    "email": "smit333@sfgov.edu",
    "device_id": "tt222111",
    "account_id": "123456",
    "first_name": "john",
    "last_name": "smith",
    "phone": "111111111",
}
SPEC_EXAMPLE_FORM = {
    "api_key": "xyz",
    "jurisdiction_id": "city.gov",
    "service_code": "D40",
    "lat": str(DAMRAK.lat),
    "long": str(DAMRAK.lon),
    "address_string": "1234 5th street",
    **PERSONAL,
    "description": "A large sinkhole is destroying the street",
    "media_url": "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg",
    "attribute[WHISPAWN]": "123456",
    "attribute[WHISDORN]": "COISL001",
}


def north(metres: float) -> dict[str, str]:
    """A position `metres` north of Damrak (about 111 km per degree)."""
    return {"lat": str(DAMRAK.lat + metres / 111_195), "long": str(DAMRAK.lon)}


async def test_the_specifications_example_post_round_trips_in_both_formats(
    open311: Open311,
) -> None:
    filed_at = open311.clock.now
    posted = await open311.client.post(f"{V2}/requests.xml", data=SPEC_EXAMPLE_FORM)

    assert posted.status_code == 200, posted.text
    created = xml_answer(posted, "service_requests")
    request = created.find("request")
    assert request is not None
    # A realtime service: the id at once, no token; no notice, and no account kept.
    assert [(child.tag, child.text) for child in request][1:] == [
        ("service_notice", None),
        ("account_id", None),
    ]
    request_id = request.findtext("service_request_id")
    await open311.settled()

    as_json = await open311.client.get(f"{V2}/requests/{request_id}.json")
    as_xml = await open311.client.get(f"{V2}/requests/{request_id}.xml?jurisdiction_id=city.gov")
    assert_same_document(as_json, as_xml)
    listed = xml_answer(as_xml, "service_requests")
    assert [child.tag for child in listed[0]] == list(REQUEST_FIELDS)
    (body,) = json_answer(as_json)
    # Geocoding changed the report later (the background worker writes the wall clock's time).
    updated = datetime.fromisoformat(body.pop("updated_datetime"))
    assert updated >= filed_at
    assert body == {
        "service_request_id": request_id,
        "status": "open",
        "status_notes": f"Reported at {iso(filed_at)}.",
        "service_name": "Pothole",
        "service_code": "D40",
        "description": "A large sinkhole is destroying the street",
        "agency_responsible": "Road maintenance",
        "service_notice": None,
        "requested_datetime": iso(filed_at),
        "expected_datetime": None,
        # Reverse-geocoded from lat/long by the (fake) Nominatim.
        "address": DAMRAK.display_name,
        "address_id": None,
        "zipcode": "1012 LG",
        "lat": DAMRAK.lat,
        "long": DAMRAK.lon,
        "media_url": None,
    }
    stored = cast(
        dict[str, str], await open311.resources.redis.hgetall(keys.report(str(request_id)))
    )
    kept = " ".join(stored.values())
    assert not [value for value in PERSONAL.values() if value in kept]
    assert "flickr" not in kept


async def test_an_address_string_alone_is_geocoded_after_filing(open311: Open311) -> None:
    request_id = await open311.file(address_string="Damrak, Amsterdam")
    before = (await open311.client.get(f"{V2}/requests/{request_id}.json")).json()[0]
    await open311.settled()
    after = (await open311.client.get(f"{V2}/requests/{request_id}.json")).json()[0]

    assert (before["address"], before["lat"], before["zipcode"]) == (
        "Damrak, Amsterdam",
        None,
        None,
    )
    assert (after["address"], after["zipcode"]) == (DAMRAK.display_name, "1012 LG")
    assert (after["lat"], after["long"]) == (pytest.approx(DAMRAK.lat), pytest.approx(DAMRAK.lon))


async def test_a_second_request_at_the_same_spot_is_a_duplicate(open311: Open311) -> None:
    filed_at = open311.clock.now
    first = await open311.file(**north(0))
    open311.clock.advance(minutes=5)
    second = await open311.post("xml", **north(8))

    notice = xml_answer(second, "service_requests").findtext("request/service_notice")
    second_id = xml_answer(second, "service_requests").findtext("request/service_request_id")
    assert (
        notice
        == f"This hazard was already reported as request {first}; this request was added to it."
    )
    listed = json_answer(await open311.client.get(f"{V2}/requests.json"))
    by_id = {request["service_request_id"]: request for request in listed}
    assert [request["service_request_id"] for request in listed] == [second_id, first]
    assert by_id[second_id]["status"] == "closed"
    assert by_id[second_id]["status_notes"] == (
        f"Duplicate of request {first} at {iso(filed_at + timedelta(minutes=5))}."
    )
    assert by_id[first]["status"] == "open"
    assert by_id[first]["status_notes"] == (
        f"Reported at {iso(filed_at)}. Reported 1 more time since."
    )


async def test_a_retry_with_the_same_idempotency_key_gets_the_same_answer(
    open311: Open311,
) -> None:
    form = {"service_code": "D20", **north(0), "description": "cracks"}
    key = {"Idempotency-Key": "7c1e-retry"}
    first = await open311.client.post(f"{V2}/requests.json", data=form, headers=key)
    again = await open311.client.post(f"{V2}/requests.json", data=form, headers=key)
    as_xml = await open311.client.post(f"{V2}/requests.xml", data=form, headers=key)
    other = await open311.client.post(
        f"{V2}/requests.json", data={**form, "description": "other"}, headers=key
    )

    assert first.status_code == again.status_code == as_xml.status_code == 200
    assert again.json() == first.json()
    request_id = first.json()[0]["service_request_id"]
    assert xml_answer(as_xml, "service_requests").findtext("request/service_request_id") == (
        request_id
    )
    assert len(json_answer(await open311.client.get(f"{V2}/requests.json"))) == 1
    assert other.status_code == 400
    assert other.json() == [
        {"code": 400, "description": "This Idempotency-Key was already used with another request."}
    ]


async def test_status_filters_and_a_closed_requests_times(open311: Open311) -> None:
    fixed_at = iso(open311.clock.now + timedelta(hours=5))
    fixed = await open311.file(**north(0))
    open311.clock.advance(hours=1)
    confirmed = await open311.file(**north(500))
    open311.clock.advance(hours=1)
    new = await open311.file(**north(1000))
    for action in ("confirm", "start", "fix"):
        open311.clock.advance(hours=1)
        assert (await open311.client.post(f"/v1/reports/{fixed}/{action}")).status_code == 200
    assert (await open311.client.post(f"/v1/reports/{confirmed}/confirm")).status_code == 200
    # An edit after closing changes the report, not when the request was closed.
    open311.clock.advance(hours=1)
    edited = await open311.client.patch(f"/v1/reports/{fixed}", json={"description": "later"})
    assert edited.status_code == 200

    async def ids(query: str) -> list[str]:
        answer = await open311.client.get(f"{V2}/requests.json?{query}")
        assert answer.status_code == 200, answer.text
        return [request["service_request_id"] for request in answer.json()]

    assert await ids("status=open") == [new, confirmed]
    assert await ids("status=closed") == [fixed]
    assert await ids("status=open,closed") == await ids("") == [new, confirmed, fixed]
    closed = (await open311.client.get(f"{V2}/requests/{fixed}.json")).json()[0]
    assert closed["status_notes"] == f"Fixed at {fixed_at}."
    assert closed["updated_datetime"] == fixed_at
    assert closed["description"] == "later"
    still_open = (await open311.client.get(f"{V2}/requests/{confirmed}.json")).json()[0]
    assert still_open["status_notes"] == f"Confirmed at {fixed_at}."


async def test_the_window_defaults_to_90_days_and_may_span_no_more(open311: Open311) -> None:
    now = open311.clock.now
    open311.clock.now = now - timedelta(days=100)
    oldest = await open311.file(**north(0))
    open311.clock.now = now - timedelta(days=10)
    middle = await open311.file(**north(500))
    open311.clock.now = now
    newest = await open311.file(**north(1000))

    async def ids(query: str) -> list[str]:
        answer = await open311.client.get(f"{V2}/requests.json?{query}")
        assert answer.status_code == 200, answer.text
        return [request["service_request_id"] for request in answer.json()]

    def at(days_before: float) -> str:
        return iso(now - timedelta(days=days_before))

    assert await ids("") == [newest, middle]
    assert await ids(f"end_date={at(5)}") == [middle]  # the 90 days before it
    assert await ids(f"start_date={at(100)}") == [middle, oldest]  # the 90 days after it
    # Both ends are included.
    assert await ids(f"start_date={at(100)}&end_date={at(10)}") == [middle, oldest]
    for query, problem in [
        (f"start_date={at(100)}&end_date={at(9)}", "may not span more than 90 days"),
        (f"start_date={at(5)}&end_date={at(10)}", "end_date is before start_date"),
    ]:
        refused = await open311.client.get(f"{V2}/requests.xml?{query}")
        assert refused.status_code == 400
        assert problem in (xml_answer(refused, "errors").findtext("error/description") or "")


async def test_the_specifications_sample_query(open311: Open311) -> None:
    open311.clock.now = datetime(2010, 6, 1, 9, 30, tzinfo=UTC)
    request_id = await open311.file(**north(0))
    open311.clock.now = datetime.now(UTC)

    answer = await open311.client.get(
        f"{V2}/requests.xml?start_date=2010-05-24T00:00:00Z&end_date=2010-06-24T00:00:00Z"
        "&status=open&jurisdiction_id=city.gov"
    )

    listed = xml_answer(answer, "service_requests")
    assert [request.findtext("service_request_id") for request in listed] == [request_id]
    assert listed.findtext("request/requested_datetime") == "2010-06-01T09:30:00.000Z"


async def test_service_request_ids_override_every_other_argument(open311: Open311) -> None:
    first = await open311.file(**north(0))
    second = await open311.file(service_code="D50", **north(500))
    unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

    answer = await open311.client.get(
        f"{V2}/requests.json?service_request_id={second}, {first},{unknown},nonsense,{second}"
        "&status=closed&service_code=D00&start_date=1999-01-01T00:00:00Z"
    )

    assert [request["service_request_id"] for request in answer.json()] == [second, first]


async def test_service_codes_filter_the_list(open311: Open311) -> None:
    pothole = await open311.file(**north(0))
    crack = await open311.file(service_code="D20", **north(0))

    async def ids(query: str) -> list[str]:
        answer = await open311.client.get(f"{V2}/requests.json?{query}")
        assert answer.status_code == 200, answer.text
        return [request["service_request_id"] for request in answer.json()]

    assert await ids("service_code=D20") == [crack]
    assert await ids("service_code=D40,D20") == [crack, pothole]
    assert await ids("service_code=D50") == []


async def test_the_limit(open311: Open311) -> None:
    filed = [await open311.file(**north(500 * i)) for i in range(3)]

    answer = await open311.client.get(f"{V2}/requests.json?limit=2")

    assert [r["service_request_id"] for r in answer.json()] == filed[::-1][:2]
    for limit in ("0", "1001", "many"):
        refused = await open311.client.get(f"{V2}/requests.json?limit={limit}")
        assert refused.status_code == 400
        assert refused.json()[0]["description"].startswith("limit: ")


async def test_a_long_list_agrees_in_both_formats(open311: Open311) -> None:
    # More requests than are rendered on the event loop: these are built in a thread.
    pothole = resolve("pothole")
    for i in range(60):
        open311.clock.advance(seconds=1)
        draft = ManualReport(pothole, GeoPoint(10 + i, 20), description=f"n{i}\x01")
        await open311.resources.reports.create_manual(draft, idempotency_key=None)

    as_json = await open311.client.get(f"{V2}/requests.json")
    as_xml = await open311.client.get(f"{V2}/requests.xml")

    listed = xml_answer(as_xml, "service_requests")
    assert len(listed) == len(as_json.json()) == 60
    # A control character cannot be written in XML at all: it is left out there.
    assert [r.findtext("description") for r in listed][:2] == ["n59", "n58"]
    assert [r["description"] for r in as_json.json()][:2] == ["n59\x01", "n58\x01"]


async def test_media_url_is_this_apis_absolute_image_url(open311: Open311) -> None:
    image = base64.b64encode(jpeg()).decode()
    filed = await open311.client.post(
        "/v1/reports", json={"service_code": "D40", "lat": 10.0, "lon": 20.0, "image": image}
    )
    report_id = filed.json()["service_request_id"]

    here = (await open311.client.get(f"{V2}/requests/{report_id}.json")).json()[0]
    # The URL the client called names the host and scheme (behind a trusted proxy, uvicorn
    # sets the scheme from X-Forwarded-Proto).
    there = (
        await open311.client.get(f"https://city.example{V2}/requests/{report_id}.json")
    ).json()[0]

    assert here["media_url"] == f"http://roadhazard.test/v1/reports/{report_id}/image"
    assert there["media_url"] == f"https://city.example/v1/reports/{report_id}/image"
    await open311.settled()
    image_answer = await open311.client.get(here["media_url"])
    assert (image_answer.status_code, image_answer.content) == (200, jpeg())


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_an_unknown_request_is_404(open311: Open311, fmt: str) -> None:
    for request_id in ("123456", "01ARZ3NDEKTSV4RRFFQ69G5FAV"):
        answer = await open311.client.get(f"{V2}/requests/{request_id}.{fmt}")
        assert answer.status_code == 404
        expected = f"There is no report {request_id}."
        if fmt == "json":
            assert json_answer(answer) == [{"code": 404, "description": expected}]
        else:
            error = xml_answer(answer, "errors").find("error")
            assert error is not None
            assert (error.findtext("code"), error.findtext("description")) == ("404", expected)
