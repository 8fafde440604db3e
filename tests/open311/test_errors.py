"""Every error under /open311/ in GeoReport v2's error format, with the right status: bad
arguments and forms (400), keys (403), what does not exist (404), and the statuses HTTP
clients act on (405, 409, 413, 415, 429, 503), each with the request id, never a 500 for bad
input nor a secret or a stack trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError
from tests.harness import running_app
from tests.open311.conftest import V2, Open311, open311_settings
from tests.open311.spec import json_answer, xml_answer

from roadhazard.error_handlers import install_error_handlers
from roadhazard.open311.errors import OPEN311_PATHS, render_error
from roadhazard.request_context import RequestIdMiddleware

REPORTER = "reporter-key-0123456789"
OTHER_REPORTER = "another-reporter-key-0123"
PLACE = {"service_code": "D40", "lat": "52.37", "long": "4.89"}


def descriptions(answer: httpx.Response) -> list[str]:
    """The error descriptions of an answer in either format (checked against the spec)."""
    assert answer.headers["x-request-id"]
    if answer.headers["content-type"].startswith("text/xml"):
        errors = xml_answer(answer, "errors")
        assert {error.findtext("code") for error in errors} == {str(answer.status_code)}
        return [error.findtext("description") or "" for error in errors]
    body = json_answer(answer)
    assert {error["code"] for error in body} == {answer.status_code}
    return [error["description"] for error in body]


@pytest.fixture
async def guarded(raw_model: Path, geocoder_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = open311_settings(
        raw_model,
        geocoder_url,
        api_keys=f"reporter:{REPORTER},reporter:{OTHER_REPORTER}",
        public_reads=False,
    )
    async with running_app(settings, wait_loaded=False) as (client, _):
        yield client


async def test_a_missing_or_wrong_api_key_is_403(guarded: httpx.AsyncClient) -> None:
    missing = await guarded.post(f"{V2}/requests.xml", data=PLACE)
    wrong = await guarded.post(f"{V2}/requests.json", data={**PLACE, "api_key": "x" * 20})
    unread = await guarded.get(f"{V2}/requests.json")

    # The specification: 403 for a wrong or missing api_key (and no 401 challenge).
    for answer in (missing, wrong, unread):
        assert answer.status_code == 403
        assert "www-authenticate" not in answer.headers
    assert descriptions(missing) == [
        "Send an API key with the reporter role as the api_key field, or in X-API-Key."
    ]
    assert descriptions(wrong) == ["The API key is not valid."]
    assert "x" * 20 not in wrong.text


async def test_a_reporter_key_as_the_field_or_a_header(guarded: httpx.AsyncClient) -> None:
    as_field = await guarded.post(f"{V2}/requests.json", data={**PLACE, "api_key": REPORTER})
    as_header = await guarded.post(
        f"{V2}/requests.json",
        data={**PLACE, "lat": "10"},
        headers={"X-API-Key": REPORTER},
    )
    as_bearer = await guarded.post(
        f"{V2}/requests.json",
        data={**PLACE, "lat": "20"},
        headers={"Authorization": f"Bearer {REPORTER}"},
    )
    read = await guarded.get(f"{V2}/requests.json", headers={"X-API-Key": REPORTER})

    assert [a.status_code for a in (as_field, as_header, as_bearer, read)] == [200] * 4
    assert len(read.json()) == 3


async def test_an_idempotency_key_belongs_to_the_api_key(guarded: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "same-key"}
    first = await guarded.post(
        f"{V2}/requests.json", data={**PLACE, "api_key": REPORTER}, headers=key
    )
    # The same API key, sent the other way: the same caller, so the same answer.
    again = await guarded.post(
        f"{V2}/requests.json", data=PLACE, headers={**key, "X-API-Key": REPORTER}
    )
    # Another API key's equal Idempotency-Key is another key.
    other = await guarded.post(
        f"{V2}/requests.json",
        data={**PLACE, "lat": "10", "api_key": OTHER_REPORTER},
        headers=key,
    )

    assert first.status_code == again.status_code == other.status_code == 200
    assert again.json() == first.json()
    assert other.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]


async def test_each_invalid_argument_is_one_error(open311: Open311) -> None:
    answer = await open311.client.get(
        f"{V2}/requests.xml?start_date=yesterday&limit=0&status=pending"
    )

    assert answer.status_code == 400
    found = descriptions(answer)
    assert len(found) == 3
    assert {text.split(":")[0] for text in found} == {"start_date", "limit", "status"}


@pytest.mark.parametrize(
    ("form", "status", "description"),
    [
        ({"lat": "52.37", "long": "4.89"}, 400, "service_code: Field required"),
        ({**PLACE, "service_code": "pothole"}, 404, "There is no service 'pothole'"),
        ({**PLACE, "long": ""}, 400, "long: Input should be a valid number"),
        ({"service_code": "D40", "lat": "52.37"}, 400, "give both lat and long, or neither"),
        ({"service_code": "D40", "address_id": "545483"}, 400, "address_id is not supported"),
        ({"service_code": "D40"}, 400, "a location is required: lat and long, or address_string"),
        ({**PLACE, "lat": "91"}, 400, "lat: Input should be less than or equal to 85.05"),
        ({**PLACE, "lat": "nan"}, 400, "lat: Input should be a finite number"),
        ({**PLACE, "description": "x" * 4001}, 400, "description: String should have at most"),
    ],
)
async def test_a_bad_form_is_refused_in_the_format_asked_for(
    open311: Open311, form: dict[str, str], status: int, description: str
) -> None:
    for fmt in ("json", "xml"):
        answer = await open311.client.post(f"{V2}/requests.{fmt}", data=form)
        assert answer.status_code == status, answer.text
        assert len(descriptions(answer)) == 1
        assert descriptions(answer)[0].startswith(description)


async def test_optional_fields_sent_empty_are_as_if_not_sent(open311: Open311) -> None:
    empty = dict.fromkeys(["email", "first_name", "description", "media_url", "api_key"], "")
    answer = await open311.client.post(f"{V2}/requests.json", data={**PLACE, **empty})

    assert answer.status_code == 200, answer.text
    request_id = answer.json()[0]["service_request_id"]
    listed = (await open311.client.get(f"{V2}/requests/{request_id}.json")).json()
    assert listed[0]["description"] is None


async def test_bodies_that_are_no_service_request(open311: Open311) -> None:
    url = f"{V2}/requests.xml"
    as_json = await open311.client.post(url, json=PLACE)
    too_large = await open311.client.post(url, data={**PLACE, "description": "x" * 70_000})
    not_utf8 = await open311.client.post(
        url,
        content=b"service_code=D40&lat=52&long=4&description=%FF",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    twice = await open311.client.post(
        url,
        content=b"service_code=D40&lat=52&long=4&lat=53",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    with_a_file = await open311.client.post(url, data=PLACE, files={"media": ("a.jpg", b"x")})

    assert [a.status_code for a in (as_json, too_large, not_utf8, twice, with_a_file)] == [
        415,
        413,
        400,
        400,
        400,
    ]
    assert descriptions(twice) == ["The field lat was sent more than once."]
    assert descriptions(with_a_file)[0].startswith("Malformed multipart body: Too many files")


async def test_a_multipart_form_is_read_too(open311: Open311) -> None:
    fields = {name: (None, value) for name, value in PLACE.items()}
    answer = await open311.client.post(f"{V2}/requests.json", files=fields)

    assert answer.status_code == 200, answer.text


async def test_unknown_paths_formats_and_methods(open311: Open311) -> None:
    no_route = await open311.client.get(f"{V2}/tokens/12345.xml")
    no_format = await open311.client.get(f"{V2}/services.yaml")
    no_method = await open311.client.delete(f"{V2}/requests.json")

    assert (no_route.status_code, no_format.status_code, no_method.status_code) == (
        404,
        404,
        405,
    )
    assert descriptions(no_route) == [f"No route matches GET {V2}/tokens/12345.xml."]
    assert descriptions(no_format) == ["There is no format 'yaml'; ask for .json or .xml."]
    assert no_method.headers["allow"] == "GET, POST"
    assert descriptions(no_method) == ["Method Not Allowed"]


async def test_over_the_rate_limit_is_429_with_its_headers(
    raw_model: Path, geocoder_url: str
) -> None:
    settings = open311_settings(
        raw_model, geocoder_url, rate_limit_enabled=True, rate_limit_reads=1
    )
    async with running_app(settings, wait_loaded=False) as (client, _):
        admitted = await client.get(f"{V2}/services.xml")
        refused = await client.get(f"{V2}/services.xml")

    assert admitted.status_code == 200
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-policy"] == '"reads";q=1;w=60'
    assert descriptions(refused)[0].startswith("Too many reads requests")


def _failing_app() -> FastAPI:
    """The error handlers as the composition installs them, before routes that fail as a
    Redis outage and as a bug do."""
    app = FastAPI()
    install_error_handlers(
        app,
        retry_after_s=7,
        crash_headers={"X-Content-Type-Options": "nosniff"},
        renderers={OPEN311_PATHS: render_error},
    )

    async def outage() -> None:
        raise RedisConnectionError("Error connecting to 10.1.2.3:6379, password=hunter2")

    async def bug() -> None:
        raise RuntimeError("a secret in a stack trace")

    for path, endpoint in [
        (f"{V2}/outage.xml", outage),
        (f"{V2}/bug.json", bug),
        ("/v1/bug", bug),
    ]:
        app.add_api_route(path, endpoint)
    app.add_middleware(RequestIdMiddleware)
    return app


async def test_an_outage_and_a_bug_answer_in_the_format_and_say_nothing_more() -> None:
    transport = httpx.ASGITransport(app=_failing_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        outage = await client.get(f"{V2}/outage.xml")
        bug = await client.get(f"{V2}/bug.json")
        elsewhere = await client.get("/v1/bug")

    assert (outage.status_code, outage.headers["retry-after"]) == (503, "7")
    assert descriptions(outage) == ["The data store is not answering; retry shortly."]
    assert bug.status_code == 500
    assert bug.headers["x-content-type-options"] == "nosniff"
    assert descriptions(bug) == [
        "An unexpected error occurred. Quote the request id when reporting it."
    ]
    for answer in (outage, bug):
        assert not [
            word for word in ("10.1.2.3", "hunter2", "secret", "Trace") if word in answer.text
        ]
    # Every other path keeps problem+json.
    assert elsewhere.headers["content-type"] == "application/problem+json"
