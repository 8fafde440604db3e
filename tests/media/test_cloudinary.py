"""The Cloudinary image store against a fake Cloudinary over real HTTP.

Nothing of ours is mocked: the store signs and sends real requests, and the fake checks them
the way Cloudinary documents it. Faults (a 500, a 429 with Retry-After, a slow or hung answer)
come from the fake; a refused connection is a port nothing listens on.
"""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import structlog
from PIL import Image
from pydantic import SecretStr

from roadhazard.checks import CheckStatus
from roadhazard.credentials import CloudinaryCredentials
from roadhazard.logging import configure_logging, flush_logs
from roadhazard.media.cloudinary import CloudinaryImageStore
from roadhazard.media.cloudinary_api import api_signature, public_id_for, sign, string_to_sign
from roadhazard.media.service import ImageStore, image_key
from roadhazard.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    DependencyError,
    PermanentError,
    RetryPolicy,
    TransientError,
)
from tests.factories import jpeg, png
from tests.fakes.cloudinary import FakeCloudinary
from tests.fakes.server import Fault, unused_port

REPORT_ID = "01HZY3C5N8Q4W7RZT0M2K6B9DX"
KEY = image_key(REPORT_ID, "original")
PUBLIC_ID = f"roadhazard/{REPORT_ID}_original"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeCloudinary, str]]:
    fake = FakeCloudinary()
    with fake.serving() as base_url:
        yield fake, base_url


@pytest.fixture
def fake(served: tuple[FakeCloudinary, str]) -> Iterator[FakeCloudinary]:
    fake, _ = served
    fake.reset()
    fake.clock = time.time
    yield fake
    # A hung request must end before the next test (and before the server stops).
    fake.faults.clear()


@pytest.fixture
def base_url(served: tuple[FakeCloudinary, str]) -> str:
    return served[1]


class Stores:
    """Builds stores against the fake; closes them all at the end of the test."""

    def __init__(self, fake: FakeCloudinary, base_url: str) -> None:
        self.fake = fake
        self.base_url = base_url
        self.built: list[CloudinaryImageStore] = []

    def __call__(
        self,
        *,
        credentials: CloudinaryCredentials | None = None,
        api_url: str | None = None,
        attempts: int = 3,
        timeout_s: float = 5.0,
        breaker: CircuitBreaker | None = None,
        clock: Clock | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> CloudinaryImageStore:
        store = CloudinaryImageStore(
            credentials or self.fake.credentials,
            api_url=api_url or self.base_url,
            delivery_url=self.base_url,
            folder="roadhazard",
            timeout_s=timeout_s,
            retry=RetryPolicy(attempts=attempts, base_delay_s=0.01, max_delay_s=0.05),
            breaker=breaker or CircuitBreaker("Cloudinary", failure_threshold=50),
            client=client,
            clock=clock or time.time,
            ping_interval_s=60.0,
        )
        self.built.append(store)
        return store


@pytest.fixture
async def stores(fake: FakeCloudinary, base_url: str) -> AsyncIterator[Stores]:
    made = Stores(fake, base_url)
    yield made
    for store in made.built:
        await store.aclose()


def wrong_secret(fake: FakeCloudinary) -> CloudinaryCredentials:
    return CloudinaryCredentials(fake.cloud_name, fake.api_key, SecretStr("not-the-secret-7d1e"))


# Signing, as documented


def test_the_signature_matches_cloudinarys_documented_example() -> None:
    # "Sanity check" from Cloudinary's support article on generating a signature.
    params = {"public_id": "sample_image", "timestamp": "1315060510", "api_key": "1234"}

    assert string_to_sign(params) == "public_id=sample_image&timestamp=1315060510"
    assert api_signature(params, "abcd") == "b4ad47fb4e25c7bf5f92a20089f9db59bc302313"


def test_file_cloud_name_resource_type_and_api_key_are_not_signed() -> None:
    params = {
        "eager": "w_400,h_300,c_pad|w_260,h_200,c_crop",
        "public_id": "sample_image",
        "timestamp": "1315060510",
        "file": "https://www.example.com/sample.jpg",
        "cloud_name": "demo",
        "resource_type": "image",
        "api_key": "1234",
    }

    assert string_to_sign(params) == (
        "eager=w_400,h_300,c_pad|w_260,h_200,c_crop&public_id=sample_image&timestamp=1315060510"
    )
    assert len(api_signature(params, "abcd", "sha256")) == 64


def test_signed_params_never_show_their_values() -> None:
    # A logged traceback renders locals with repr(): the signature must not be in it.
    signed = sign({"public_id": "x"}, api_key="k", api_secret="abcd", timestamp=1315060510)

    assert signed["signature"] == api_signature(
        {"public_id": "x", "timestamp": "1315060510"}, "abcd"
    )
    assert signed["api_key"] == "k"
    assert repr(signed) == "SignedParams(public_id, timestamp, api_key, signature)"
    assert signed["signature"] not in f"{signed!r} {signed!s} {[signed]} { ({'data': signed}) }"


async def test_the_fake_refuses_what_cloudinary_refuses(
    fake: FakeCloudinary, base_url: str
) -> None:
    url = f"{base_url}/v1_1/{fake.cloud_name}/image/destroy"
    now = str(int(time.time()))

    def signed(**fields: str) -> dict[str, str]:
        return {**fields, "signature": api_signature(fields, fake.api_secret)}

    cases = [
        ({"public_id": "a", "timestamp": now, "signature": "0" * 40}, 401, "Must supply api_key"),
        (signed(public_id="a", timestamp=now) | {"api_key": "999"}, 401, "Unknown API key 999"),
        (signed(public_id="a") | {"api_key": fake.api_key}, 400, "Missing required parameter"),
        (signed(timestamp=now) | {"api_key": fake.api_key}, 400, "- public_id"),
        (
            signed(public_id="a", timestamp=str(int(time.time()) - 3700))
            | {"api_key": fake.api_key},
            400,
            "Stale request",
        ),
        (
            signed(public_id="a", timestamp=now) | {"api_key": fake.api_key, "invalidate": "true"},
            401,
            "Invalid Signature",
        ),
        (signed(public_id="a", timestamp=now) | {"api_key": fake.api_key}, 200, None),
    ]
    async with httpx.AsyncClient() as client:
        for fields, status, message in cases:
            response = await client.post(url, data=fields)
            assert response.status_code == status, fields
            if message is not None:
                assert message in response.json()["error"]["message"]
    assert response.json() == {"result": "not found"}


def test_public_ids_are_derived_from_keys() -> None:
    assert public_id_for("roadhazard", KEY) == PUBLIC_ID
    assert public_id_for("roadhazard", image_key(REPORT_ID, "annotated")).endswith("_annotated")
    for bad in ("../x.original", f"{REPORT_ID}.thumbnail", f"{REPORT_ID}/original", ""):
        with pytest.raises(ValueError, match="not an image key"):
            public_id_for("roadhazard", bad)


# The image store


async def test_put_get_delete_round_trip(fake: FakeCloudinary, stores: Stores) -> None:
    store: ImageStore = stores()

    stored = await store.put(KEY, jpeg(), "image/jpeg")
    assert (stored.data, stored.content_type) == (jpeg(), "image/jpeg")
    assert fake.uploads == {PUBLIC_ID: jpeg()}

    fetched = await store.get(KEY)
    assert fetched is not None
    assert (fetched.data, fetched.content_type) == (jpeg(), "image/jpeg")

    await store.delete(KEY)
    assert fake.uploads == {}
    assert await store.get(KEY) is None
    await store.delete(KEY)  # "not found" is what the caller wanted
    assert fake.calls["destroy"] == 2


async def test_get_of_an_image_never_stored_is_none(stores: Stores) -> None:
    assert await stores().get(image_key(REPORT_ID, "annotated")) is None


async def test_a_png_comes_back_as_a_png(stores: Stores) -> None:
    store = stores()
    await store.put(KEY, png(), "image/png")

    fetched = await store.get(KEY)

    assert fetched is not None
    assert fetched.content_type == "image/png"


async def test_public_urls_point_at_the_delivery_host(
    fake: FakeCloudinary, stores: Stores, base_url: str
) -> None:
    store = stores()
    await store.put(KEY, jpeg(800, 600), "image/jpeg")

    url = store.public_url(KEY)
    thumbnail_url = store.public_url(KEY, thumbnail=True)

    prefix = f"{base_url}/{fake.cloud_name}/image/upload"
    assert url == f"{prefix}/v1/{PUBLIC_ID}"
    assert thumbnail_url == f"{prefix}/c_fill,g_auto,w_320,h_240/v1/{PUBLIC_ID}"
    async with httpx.AsyncClient() as client:
        response = await client.get(thumbnail_url)
    assert response.status_code == 200
    with Image.open(io.BytesIO(response.content)) as thumbnail:
        assert thumbnail.size == (320, 240)


async def test_uploads_are_signed_as_cloudinary_checks(
    fake: FakeCloudinary, stores: Stores
) -> None:
    await stores().put(KEY, jpeg(), "image/jpeg")

    [(endpoint, fields)] = fake.received
    assert endpoint == "upload"
    assert set(fields) == {
        "api_key",
        "invalidate",
        "overwrite",
        "public_id",
        "signature",
        "timestamp",
    }
    assert (fields["overwrite"], fields["invalidate"]) == ("true", "true")
    assert abs(int(fields["timestamp"]) - time.time()) < 60


async def test_a_sha256_signature_is_accepted_too(fake: FakeCloudinary, base_url: str) -> None:
    store = CloudinaryImageStore(
        fake.credentials,
        api_url=base_url,
        delivery_url=base_url,
        folder="roadhazard",
        timeout_s=5.0,
        retry=RetryPolicy(attempts=1),
        breaker=CircuitBreaker("Cloudinary"),
        signature_algorithm="sha256",
    )
    try:
        await store.put(KEY, jpeg(), "image/jpeg")
        await store.delete(KEY)
    finally:
        await store.aclose()

    assert [len(fields["signature"]) for _, fields in fake.received] == [64, 64]


async def test_a_wrong_secret_is_a_permanent_401_without_retries(
    fake: FakeCloudinary, stores: Stores
) -> None:
    store = stores(credentials=wrong_secret(fake))

    with pytest.raises(PermanentError) as raised:
        await store.put(KEY, jpeg(), "image/jpeg")

    assert raised.value.status_code == 401
    assert "API key or secret" in str(raised.value)
    assert fake.calls["upload"] == 1
    assert fake.uploads == {}
    # Readiness knows at once, without spending an Admin API call on a ping.
    readiness = await store.readiness_check()
    assert readiness.status is CheckStatus.UNHEALTHY
    assert readiness.detail == str(raised.value)
    assert fake.calls["ping"] == 0


async def test_a_stale_timestamp_is_refused(fake: FakeCloudinary, stores: Stores) -> None:
    # A host clock two hours slow: Cloudinary refuses signatures over an hour old.
    store = stores(clock=Clock(time.time() - 7200))

    with pytest.raises(PermanentError) as raised:
        await store.put(KEY, jpeg(), "image/jpeg")

    assert raised.value.status_code == 400
    assert fake.calls["upload"] == 1


async def test_a_retried_upload_of_the_same_key_replaces_the_image(
    fake: FakeCloudinary, stores: Stores
) -> None:
    store = stores()

    await store.put(KEY, jpeg(colour=(1, 2, 3)), "image/jpeg")
    first = fake.asset(PUBLIC_ID)
    await store.put(KEY, jpeg(colour=(200, 10, 10)), "image/jpeg")
    second = fake.asset(PUBLIC_ID)

    assert fake.uploads == {PUBLIC_ID: jpeg(colour=(200, 10, 10))}
    assert first is not None
    assert second is not None
    assert second.version > first.version


async def test_the_image_store_refuses_anything_but_an_image_key(
    fake: FakeCloudinary, stores: Stores
) -> None:
    store = stores()

    for bad in ("../x.original", f"{REPORT_ID}.thumbnail"):
        with pytest.raises(ValueError, match="not an image key"):
            await store.put(bad, jpeg(), "image/jpeg")
        with pytest.raises(ValueError, match="not an image key"):
            store.public_url(bad)
    assert sum(fake.calls.values()) == 0


# Resilience


async def test_a_500_is_retried_until_the_upload_succeeds(
    fake: FakeCloudinary, stores: Stores
) -> None:
    fake.faults.set(Fault.ERROR_500, times=2)

    await stores(attempts=3).put(KEY, jpeg(), "image/jpeg")

    assert fake.calls["upload"] == 3
    assert fake.uploads == {PUBLIC_ID: jpeg()}


async def test_reads_and_deletes_are_retried_too(fake: FakeCloudinary, stores: Stores) -> None:
    store = stores(attempts=2)
    await store.put(KEY, jpeg(), "image/jpeg")

    fake.faults.set(Fault.ERROR_500, times=1)
    assert await store.get(KEY) is not None
    fake.faults.set(Fault.ERROR_500, times=1)
    await store.delete(KEY)

    assert (fake.calls["delivery"], fake.calls["destroy"]) == (2, 2)
    assert fake.uploads == {}


async def test_retries_give_up_with_a_transient_error(fake: FakeCloudinary, stores: Stores) -> None:
    fake.faults.set(Fault.ERROR_500)

    with pytest.raises(TransientError, match="Cloudinary upload answered 500"):
        await stores(attempts=3).put(KEY, jpeg(), "image/jpeg")

    assert fake.calls["upload"] == 3


@pytest.mark.parametrize("status", [429, 420])
async def test_retry_after_is_honoured(fake: FakeCloudinary, stores: Stores, status: int) -> None:
    # 420 is Cloudinary's own "rate limited"; the policy's backoff alone would be under 0.05 s.
    fake.faults.set(Fault.RATE_LIMITED, times=1, retry_after_s=1, status_429=status)
    store = stores(attempts=2)

    started = time.monotonic()
    await store.put(KEY, jpeg(), "image/jpeg")
    waited = time.monotonic() - started

    assert fake.calls["upload"] == 2
    assert 0.95 <= waited < 3.0


@pytest.mark.parametrize("fault", [Fault.HANG, Fault.SLOW])
async def test_a_slow_or_hung_cloudinary_times_out(
    fake: FakeCloudinary, stores: Stores, fault: Fault
) -> None:
    fake.faults.set(fault, delay_s=5.0)
    store = stores(attempts=1, timeout_s=0.3)

    started = time.monotonic()
    with pytest.raises(TransientError, match="Cloudinary upload timed out"):
        await store.put(KEY, jpeg(), "image/jpeg")

    # Well before the slow answer (5 s) would come: the store's own timeout ended it.
    assert time.monotonic() - started < 3.0


async def test_a_refused_connection_is_transient(fake: FakeCloudinary, stores: Stores) -> None:
    store = stores(api_url=f"http://127.0.0.1:{unused_port()}", attempts=2)

    with pytest.raises(TransientError, match="Cloudinary upload is unreachable"):
        await store.put(KEY, jpeg(), "image/jpeg")
    with pytest.raises(TransientError, match="Cloudinary destroy is unreachable"):
        await store.delete(KEY)


async def test_the_breaker_opens_fails_fast_and_a_trial_closes_it(
    fake: FakeCloudinary, stores: Stores
) -> None:
    clock = Clock(0.0)
    breaker = CircuitBreaker("Cloudinary", failure_threshold=2, reset_after_s=30.0, clock=clock)
    store = stores(attempts=1, breaker=breaker)
    fake.faults.set(Fault.ERROR_500)

    for _ in range(2):
        with pytest.raises(TransientError):
            await store.put(KEY, jpeg(), "image/jpeg")
    assert breaker.state is BreakerState.OPEN

    with pytest.raises(CircuitOpen):
        await store.put(KEY, jpeg(), "image/jpeg")
    with pytest.raises(CircuitOpen):
        await store.get(KEY)
    assert sum(fake.calls.values()) == 2  # nothing reached Cloudinary while open

    clock.advance(30.0)
    fake.faults.clear()
    await store.put(KEY, jpeg(), "image/jpeg")  # the half-open trial

    assert breaker.state is BreakerState.CLOSED
    assert fake.uploads == {PUBLIC_ID: jpeg()}


# Readiness


async def test_ready_when_the_ping_answers_and_the_ping_is_cached(
    fake: FakeCloudinary, stores: Stores
) -> None:
    clock = Clock(time.time())
    store = stores(clock=clock)

    first = await store.readiness_check()
    clock.advance(59.0)
    second = await store.readiness_check()
    assert fake.calls["ping"] == 1
    clock.advance(1.0)
    await store.readiness_check()

    assert first.status is CheckStatus.HEALTHY
    assert second == first
    assert fake.calls["ping"] == 2


async def test_a_successful_upload_stands_in_for_the_ping(
    fake: FakeCloudinary, stores: Stores
) -> None:
    store = stores()
    await store.put(KEY, jpeg(), "image/jpeg")

    result = await store.readiness_check()

    assert result.status is CheckStatus.HEALTHY
    assert fake.calls["ping"] == 0


async def test_unhealthy_when_the_credentials_are_refused(
    fake: FakeCloudinary, stores: Stores
) -> None:
    result = await stores(credentials=wrong_secret(fake)).readiness_check()

    assert result.status is CheckStatus.UNHEALTHY
    assert "401" in result.detail
    assert "API key or secret" in result.detail


async def test_unhealthy_when_cloudinary_cannot_be_reached(stores: Stores) -> None:
    result = await stores(api_url=f"http://127.0.0.1:{unused_port()}").readiness_check()

    assert result.status is CheckStatus.UNHEALTHY
    assert "unreachable" in result.detail


async def test_unhealthy_without_a_ping_while_the_breaker_is_open(
    fake: FakeCloudinary, stores: Stores
) -> None:
    breaker = CircuitBreaker("Cloudinary", failure_threshold=1, reset_after_s=30.0, clock=Clock(0))
    breaker.record_failure()

    result = await stores(breaker=breaker).readiness_check()

    assert result.status is CheckStatus.UNHEALTHY
    assert "1 times in a row" in result.detail
    assert "30 s" in result.detail
    assert fake.calls["ping"] == 0


async def test_degraded_after_recent_failures(fake: FakeCloudinary, stores: Stores) -> None:
    breaker = CircuitBreaker("Cloudinary", failure_threshold=5, clock=Clock(0))
    store = stores(attempts=1, breaker=breaker)
    await store.readiness_check()  # the ping answers, and is cached
    fake.faults.set(Fault.ERROR_500, times=1)
    with pytest.raises(TransientError):
        await store.put(KEY, jpeg(), "image/jpeg")

    result = await store.readiness_check()

    assert result.status is CheckStatus.DEGRADED
    assert "last 1 call(s)" in result.detail


async def test_degraded_while_half_open(fake: FakeCloudinary, stores: Stores) -> None:
    breaker_clock = Clock(0)
    breaker = CircuitBreaker(
        "Cloudinary", failure_threshold=1, reset_after_s=30, clock=breaker_clock
    )
    store = stores(attempts=1, breaker=breaker)
    await store.readiness_check()  # the ping answers, and is cached
    fake.faults.set(Fault.ERROR_500, times=1)
    with pytest.raises(TransientError):
        await store.put(KEY, jpeg(), "image/jpeg")
    breaker_clock.advance(30)

    result = await store.readiness_check()

    assert breaker.state is BreakerState.HALF_OPEN
    assert result.status is CheckStatus.DEGRADED
    assert "trial" in result.detail


async def test_a_ping_as_the_half_open_trial_closes_the_breaker(
    fake: FakeCloudinary, stores: Stores
) -> None:
    breaker_clock = Clock(0)
    breaker = CircuitBreaker(
        "Cloudinary", failure_threshold=1, reset_after_s=30, clock=breaker_clock
    )
    breaker.record_failure()
    breaker_clock.advance(30)

    result = await stores(breaker=breaker).readiness_check()

    assert result.status is CheckStatus.HEALTHY
    assert breaker.state is BreakerState.CLOSED
    assert fake.calls["ping"] == 1


# Secrets and lifecycle


@pytest.fixture
def json_logs() -> Iterator[None]:
    """Production logging (JSON) at DEBUG, restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    configure_logging("json", "DEBUG")
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


@pytest.mark.usefixtures("json_logs")
async def test_no_secret_signature_or_auth_header_in_errors_or_logs(
    fake: FakeCloudinary,
    stores: Stores,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    log = structlog.get_logger("test")
    wrong = wrong_secret(fake)
    errors: list[DependencyError] = []

    fake.faults.set(Fault.ERROR_500, times=2)
    await stores().put(KEY, jpeg(), "image/jpeg")  # two retries, each logged
    for credentials in (wrong, fake.credentials):
        store = stores(credentials=credentials, attempts=2)
        fake.faults.set(Fault.ERROR_500)
        for call in (store.put(KEY, jpeg(), "image/jpeg"), store.delete(KEY)):
            try:
                await call
            except DependencyError as exc:
                errors.append(exc)
                log.exception("cloudinary_failed")  # renders the traceback
        fake.faults.clear()
    bad_store = stores(credentials=wrong)
    for call in (bad_store.put(KEY, jpeg(), "image/jpeg"), bad_store.delete(KEY)):
        try:
            await call
        except DependencyError as exc:
            errors.append(exc)
            log.exception("cloudinary_failed")
    ping = await bad_store.readiness_check()

    flush_logs()  # lines are written by the log writer's thread
    captured = capsys.readouterr()
    text = "\n".join(
        [captured.out, captured.err, caplog.text, ping.detail]
        + [f"{exc} {exc!r} {exc.__context__!r} {exc.__cause__!r}" for exc in errors]
    )
    signatures = [fields["signature"] for _, fields in fake.received]
    forbidden = [
        fake.api_secret,
        wrong.api_secret.get_secret_value(),
        base64.b64encode(f"{fake.api_key}:{fake.api_secret}".encode()).decode(),
        base64.b64encode(f"{fake.api_key}:{wrong.api_secret.get_secret_value()}".encode()).decode(),
        *signatures,
    ]
    assert len(errors) == 6
    assert len(signatures) >= 8
    assert "dependency_retry" in text
    assert "Traceback" in text or "exception" in text
    for secret in forbidden:
        assert secret not in text


async def test_aclose_closes_only_a_client_the_store_made(base_url: str, stores: Stores) -> None:
    own = stores()
    async with httpx.AsyncClient() as given:
        borrowed = stores(client=given)
        await borrowed.put(KEY, jpeg(), "image/jpeg")
        await borrowed.aclose()
        assert not given.is_closed
    await own.aclose()
    assert own._client.is_closed
