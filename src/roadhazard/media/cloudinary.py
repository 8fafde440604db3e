"""Report images on Cloudinary, over its HTTP APIs with httpx (no SDK).

Uploads and deletes are signed Upload API requests. Reads fetch the public delivery URL, as a
browser would. Readiness asks the Admin API's ping, which is rate limited per hour, so its
answer is kept for `ping_interval_s`, and any signed call that succeeds counts as an answer.
Every exchange goes through roadhazard.resilience: a timeout, retries with backoff for what is
transient, and one circuit breaker for the whole account.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import structlog

from roadhazard.checks import CheckResult, CheckStatus
from roadhazard.credentials import CloudinaryCredentials
from roadhazard.media.cloudinary_api import (
    FOLDER,
    THUMBNAIL_TRANSFORMATION,
    SignatureAlgorithm,
    SignedParams,
    delivery_url,
    public_id_for,
    sign,
)
from roadhazard.media.service import StoredImage, sniff_content_type
from roadhazard.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    PermanentError,
    RetryPolicy,
    TransientError,
    call_with_retries,
    send,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")

# The ping only informs readiness, which has its own deadline: one try, no backoff.
_PING_POLICY = RetryPolicy(attempts=1)

# What an operator should check when Cloudinary's API refuses our credentials.
_HINTS = {
    401: "the API key or secret is not accepted",
    403: "the account does not allow this operation",
}


@dataclass(frozen=True)
class _Answer:
    """When Cloudinary last proved it answers and takes our credentials, or why it did not."""

    at: float
    failure: str | None


class CloudinaryImageStore:
    """An ImageStore on one Cloudinary account, each key under a fixed public id in `folder`."""

    def __init__(
        self,
        credentials: CloudinaryCredentials,
        *,
        api_url: str,
        delivery_url: str,
        folder: str,
        timeout_s: float,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        ping_interval_s: float = 60.0,
        signature_algorithm: SignatureAlgorithm = "sha1",
    ) -> None:
        if not FOLDER.fullmatch(folder):
            raise ValueError("the Cloudinary folder may hold only 1 to 64 letters, digits, _ and -")
        self._credentials = credentials
        # Built once, so no frame a traceback may show holds the secret in a local variable.
        self._admin_auth = httpx.BasicAuth(
            credentials.api_key, credentials.api_secret.get_secret_value()
        )
        self._api = f"{api_url.rstrip('/')}/v1_1/{credentials.cloud_name}"
        self._delivery_url = delivery_url.rstrip("/")
        self._folder = folder
        self._timeout = httpx.Timeout(timeout_s)
        self._retry = retry
        self._breaker = breaker
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=self._timeout)
        # Wall-clock seconds: Cloudinary checks each signature's timestamp against its own clock.
        self._clock = clock
        self._ping_interval_s = ping_interval_s
        self._signature_algorithm = signature_algorithm
        self._last_answer: _Answer | None = None

    async def put(self, key: str, data: bytes, content_type: str) -> StoredImage:
        """Uploads under the key's public id, replacing what was there: a retry is harmless."""
        public_id = public_id_for(self._folder, key)
        filename = public_id.rsplit("/", 1)[-1]

        async def upload() -> None:
            response = await self._send(
                "POST",
                f"{self._api}/image/upload",
                "upload",
                data=self._signed(
                    {"public_id": public_id, "overwrite": "true", "invalidate": "true"}
                ),
                files={"file": (filename, data, content_type)},
            )
            if _json_object(response, "upload").get("public_id") != public_id:
                raise TransientError("Cloudinary upload answered for another public id")

        await self._call(upload)
        self._answered()
        log.debug("cloudinary_uploaded", public_id=public_id, size=len(data))
        return StoredImage(data, content_type)

    async def get(self, key: str) -> StoredImage | None:
        """The image as its delivery URL serves it, or None where Cloudinary has none."""
        url = self._url(key, transformation=None)

        async def fetch() -> StoredImage | None:
            try:
                response = await self._send("GET", url, "delivery")
            except PermanentError as exc:
                if exc.status_code == 404:
                    return None
                raise
            return StoredImage(response.content, _content_type(response))

        return await self._call(fetch)

    async def delete(self, key: str) -> None:
        """Destroys the image and purges it from the CDN; an image already gone is fine."""
        public_id = public_id_for(self._folder, key)

        async def destroy() -> None:
            response = await self._send(
                "POST",
                f"{self._api}/image/destroy",
                "destroy",
                data=self._signed({"public_id": public_id, "invalidate": "true"}),
            )
            result = _json_object(response, "destroy").get("result")
            if result not in ("ok", "not found"):
                raise TransientError(f"Cloudinary destroy answered {str(result)[:40]!r}")

        await self._call(destroy)
        self._answered()
        log.debug("cloudinary_destroyed", public_id=public_id)

    def public_url(self, key: str, *, thumbnail: bool = False) -> str | None:
        """Where browsers can load the image; a thumbnail is cropped to 320x240 by Cloudinary."""
        return self._url(key, transformation=THUMBNAIL_TRANSFORMATION if thumbnail else None)

    async def readiness_check(self) -> CheckResult:
        if self._breaker.state is BreakerState.OPEN:
            return CheckResult(
                status=CheckStatus.UNHEALTHY,
                detail=(
                    f"Cloudinary failed {self._breaker.consecutive_failures} times in a row;"
                    f" calls are paused for {self._breaker.seconds_until_trial():.0f} s more"
                ),
            )
        failure = await self._ping_failure()
        if failure is not None:
            return CheckResult(status=CheckStatus.UNHEALTHY, detail=failure)
        # Read again: the ping may have been the trial call that closed the breaker.
        if self._breaker.state is BreakerState.HALF_OPEN:
            return CheckResult(
                status=CheckStatus.DEGRADED,
                detail="Cloudinary failed recently; the next call is a trial of whether it is back",
            )
        failures = self._breaker.consecutive_failures
        if failures:
            return CheckResult(
                status=CheckStatus.DEGRADED,
                detail=f"Cloudinary answers, but the last {failures} call(s) to it failed",
            )
        return CheckResult(
            status=CheckStatus.HEALTHY, detail="Cloudinary answers and accepts the credentials"
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def _url(self, key: str, *, transformation: str | None) -> str:
        public_id = public_id_for(self._folder, key)
        return delivery_url(
            self._delivery_url,
            self._credentials.cloud_name,
            public_id,
            transformation=transformation,
        )

    def _signed(self, params: Mapping[str, str]) -> SignedParams:
        # Signed afresh on every attempt: Cloudinary refuses a timestamp over an hour old, and
        # a retry after a long Retry-After must not carry a stale one.
        return sign(
            params,
            api_key=self._credentials.api_key,
            api_secret=self._credentials.api_secret.get_secret_value(),
            timestamp=int(self._clock()),
            algorithm=self._signature_algorithm,
        )

    async def _call(
        self, operation: Callable[[], Awaitable[T]], policy: RetryPolicy | None = None
    ) -> T:
        return await call_with_retries(
            operation, policy=policy or self._retry, breaker=self._breaker
        )

    async def _send(self, method: str, url: str, operation: str, **kwargs: Any) -> httpx.Response:
        try:
            return await send(
                self._client,
                method,
                url,
                dependency=f"Cloudinary {operation}",
                timeout=self._timeout,
                **kwargs,
            )
        except PermanentError as exc:
            # Only API calls carry credentials; a 401 from the CDN says nothing about them.
            hint = _HINTS.get(exc.status_code or 0) if url.startswith(self._api) else None
            if hint is None:
                raise
            refused = PermanentError(f"{exc}: {hint}", status_code=exc.status_code)
            # Readiness should say so now, not once the cached ping expires.
            self._last_answer = _Answer(self._clock(), str(refused))
            raise refused from None

    def _answered(self) -> None:
        """A signed call went through: as good an answer as a ping, and it costs no quota."""
        self._last_answer = _Answer(self._clock(), None)

    async def _ping_failure(self) -> str | None:
        """Why the last ping failed, or None when Cloudinary answers; pings at most once per
        `ping_interval_s` (a clock that went backwards counts as time to ask again)."""
        last = self._last_answer
        if last is not None and 0 <= self._clock() - last.at < self._ping_interval_s:
            return last.failure
        try:
            await self._call(self._ping, _PING_POLICY)
        except CircuitOpen:
            # Another call holds the half-open trial: its outcome will tell, not a guess here.
            return None
        except (TransientError, PermanentError) as exc:
            failure: str | None = str(exc)
        else:
            failure = None
        self._last_answer = _Answer(self._clock(), failure)
        return failure

    async def _ping(self) -> None:
        response = await self._send("GET", f"{self._api}/ping", "ping", auth=self._admin_auth)
        if _json_object(response, "ping").get("status") != "ok":
            raise TransientError("Cloudinary ping answered without status ok")


def _json_object(response: httpx.Response, operation: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        body = None
    if not isinstance(body, dict):
        # A proxy's error page or a truncated body: another try may well get the real answer.
        raise TransientError(f"Cloudinary {operation} answered {response.status_code} without JSON")
    return body


def _content_type(response: httpx.Response) -> str:
    """The type the bytes say, else the one the CDN declares when it names an image."""
    sniffed = sniff_content_type(response.content)
    if sniffed is not None:
        return sniffed
    declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return declared if declared.startswith("image/") else "application/octet-stream"
