"""The dependencies on a small app with the service's error handlers and request ids."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Depends, FastAPI, Response
from redis.asyncio import Redis

from roadhazard.access.service import AccessPolicy
from roadhazard.error_handlers import PROBLEM_MEDIA_TYPE, install_error_handlers
from roadhazard.ratelimit import DetectRateLimit, RateLimiter, ReadsRateLimit, rate_limit
from roadhazard.request_context import REQUEST_ID_HEADER, RequestIdMiddleware

KEY_A = "reporter-key-aaaaaaaa"
KEY_B = "reporter-key-bbbbbbbb"
POLICY = AccessPolicy.from_config(f"reporter:{KEY_A},reporter:{KEY_B}", public_reads=True)


def build_app(limiter: RateLimiter | None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.state.access_policy = POLICY
    if limiter is not None:
        app.state.rate_limiter = limiter

    @app.post("/detect")
    async def detect(_: DetectRateLimit) -> dict[str, bool]:
        return {"ok": True}

    # Named by the route and by its parameter: still one count a request.
    @app.get("/reads", dependencies=[Depends(rate_limit("reads"))])
    async def reads(_: ReadsRateLimit) -> dict[str, bool]:
        return {"ok": True}

    @app.get("/plain")
    async def plain(_: DetectRateLimit) -> Response:
        return Response("ok")

    return app


def client(app: FastAPI, address: str = "192.0.2.10") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://roadhazard.test")


@pytest.fixture
async def app(redis: Redis) -> FastAPI:
    return build_app(RateLimiter(redis, {"detect": 2, "reads": 3}, window_s=60))


async def test_over_the_limit_is_a_429_problem(app: FastAPI) -> None:
    async with client(app) as http:
        first = await http.post("/detect")
        second = await http.post("/detect")
        refused = await http.post("/detect")

    assert [first.status_code, second.status_code] == [200, 200]
    assert first.headers["RateLimit-Policy"] == '"detect";q=2;w=60'
    assert first.headers["RateLimit"].startswith('"detect";r=1;t=')
    assert second.headers["RateLimit"].startswith('"detect";r=0;t=')

    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = refused.json()
    assert body["type"].endswith("/too-many-requests")
    assert body["status"] == 429
    assert body["request_id"] == refused.headers[REQUEST_ID_HEADER]
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 120
    assert refused.headers["RateLimit"] == f'"detect";r=0;t={retry_after}'
    assert f"retry in {retry_after} s" in body["detail"]


async def test_each_api_key_and_address_has_its_own_budget(app: FastAPI) -> None:
    async with client(app) as http, client(app, "198.51.100.7") as elsewhere:
        for _ in range(2):
            assert (await http.post("/detect", headers={"X-API-Key": KEY_A})).status_code == 200
        assert (await http.post("/detect", headers={"X-API-Key": KEY_A})).status_code == 429
        bearer = {"Authorization": f"Bearer {KEY_B}"}
        assert (await http.post("/detect", headers=bearer)).status_code == 200
        # Without a key, the address pays; a wrong key is no key.
        assert (await http.post("/detect")).status_code == 200
        assert (await http.post("/detect", headers={"X-API-Key": "wrong-key-000000"})).is_success
        assert (await http.post("/detect")).status_code == 429
        assert (await elsewhere.post("/detect")).status_code == 200


async def test_x_forwarded_for_does_not_buy_a_new_budget(app: FastAPI) -> None:
    async with client(app) as http:
        statuses = [
            (await http.post("/detect", headers={"X-Forwarded-For": f"203.0.113.{n}"})).status_code
            for n in range(3)
        ]
    assert statuses == [200, 200, 429]


async def test_groups_have_their_own_budgets_and_count_once(app: FastAPI) -> None:
    async with client(app) as http:
        for _ in range(3):
            await http.post("/detect")
        reads = [await http.get("/reads") for _ in range(4)]

    assert [r.status_code for r in reads] == [200, 200, 200, 429]
    assert [r.headers["RateLimit"].split(";")[1] for r in reads] == ["r=2", "r=1", "r=0", "r=0"]


async def test_an_endpoint_returning_a_response_is_limited_without_headers(app: FastAPI) -> None:
    async with client(app) as http:
        statuses = [(await http.get("/plain")) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert "RateLimit" not in statuses[0].headers


async def test_an_unlimited_group_has_no_headers(redis: Redis) -> None:
    app = build_app(RateLimiter(redis, {"detect": 0}, window_s=60))
    async with client(app) as http:
        responses = [await http.post("/detect") for _ in range(5)]
    assert all(r.status_code == 200 and "RateLimit" not in r.headers for r in responses)


async def test_redis_down_admits(unreachable_redis: Redis) -> None:
    app = build_app(RateLimiter(unreachable_redis, {"detect": 1}, window_s=60))
    async with client(app) as http:
        responses = [await http.post("/detect") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]


async def test_a_missing_limiter_is_a_wiring_error() -> None:
    async with client(build_app(None)) as http:
        with pytest.raises(RuntimeError, match=r"app\.state\.rate_limiter"):
            await http.post("/detect")
