"""Geocoding: addresses for points and places for text, from Nominatim or offline data.

Which provider answers is configuration, never a fallback: with ROADHAZARD_GEOCODER_URL set,
an outage is a GeocoderUnavailable the caller retries later, because an offline "near the
town" answer stored in a report would never be replaced by the street address.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from redis.asyncio import Redis

from roadhazard.checks import CheckResult, CheckStatus
from roadhazard.geocoding import cache as geocache
from roadhazard.geocoding import keys
from roadhazard.geocoding.cache import GeocodeCache, ProviderThrottle, SlotUnavailable
from roadhazard.geocoding.errors import GeocoderUnavailable
from roadhazard.geocoding.nominatim import NominatimClient
from roadhazard.geocoding.offline import OfflineGeocoder, PlaceIndex, load_geonames
from roadhazard.geocoding.schemas import Address, Place, Provider
from roadhazard.observability import metrics
from roadhazard.resilience import (
    BreakerState,
    CircuitBreaker,
    DependencyError,
    PermanentError,
    RetryPolicy,
    TransientError,
    call_with_retries,
)
from roadhazard.settings import Settings

__all__ = ["GeocoderUnavailable", "GeocodingService"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

FORWARD_NEEDS_URL = (
    "Searching for places needs an online geocoder: set ROADHAZARD_GEOCODER_URL to the base URL "
    "of a Nominatim-compatible API. Only reverse geocoding works offline."
)
# Configuration cannot change while the process runs; an hour keeps clients from polling.
NOT_CONFIGURED_RETRY_AFTER_S = 3600
# A refusal (403 for a blocked User-Agent, 400) needs an operator, not a quick retry.
REFUSED_RETRY_AFTER_S = 300
# The readiness probe asks the provider's /status at most this often, and waits at most
# PROBE_MAX_WAIT_S for a request slot, so it never crowds out real lookups.
PROBE_INTERVAL_S = 60.0
PROBE_MAX_WAIT_S = 1.0
_PROBE_POLICY = RetryPolicy(attempts=1)  # readiness answers within seconds; no retries


class GeocodingService:
    def __init__(
        self,
        *,
        nominatim: NominatimClient | None,
        offline: OfflineGeocoder | None,
        cache: GeocodeCache,
        throttle: ProviderThrottle,
        breaker: CircuitBreaker,
        policy: RetryPolicy,
        language: str | None,
        max_wait_s: float,
        retry_after_s: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nominatim = nominatim
        self._offline = offline
        self._cache = cache
        self._throttle = throttle
        self._breaker = breaker
        self._policy = policy
        self._language = language
        self._max_wait_s = max_wait_s
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._last_error: str | None = None
        self._probed_at: float | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        redis: Redis,
        *,
        clock: Callable[[], float] = time.monotonic,
        offline_loader: Callable[[], PlaceIndex] = load_geonames,
    ) -> GeocodingService:
        nominatim: NominatimClient | None = None
        offline: OfflineGeocoder | None = None
        if settings.geocoder_url:
            nominatim = NominatimClient(
                settings.geocoder_url,
                user_agent=settings.geocoder_user_agent,
                timeout_s=settings.geocoder_timeout_s,
                email=(
                    settings.geocoder_email.get_secret_value() if settings.geocoder_email else None
                ),
                language=settings.geocoder_language,
            )
        elif settings.offline_geocoder:
            offline = OfflineGeocoder(loader=offline_loader, retry_after_s=settings.retry_after_s)
        interval = settings.geocoder_min_interval_s
        return cls(
            nominatim=nominatim,
            offline=offline,
            cache=GeocodeCache(redis, ttl_s=settings.geocoder_cache_ttl_s),
            throttle=ProviderThrottle(
                redis,
                interval_s=interval,
                fallback_interval_s=interval * settings.workers,
                clock=clock,
            ),
            breaker=CircuitBreaker(
                "nominatim",
                failure_threshold=settings.circuit_failure_threshold,
                reset_after_s=settings.circuit_reset_s,
                clock=clock,
            ),
            # A Retry-After longer than a request may wait is not slept through: it fails fast.
            policy=RetryPolicy(
                attempts=settings.dependency_retries,
                max_delay_s=min(5.0, settings.geocoder_max_wait_s),
                max_retry_after_s=settings.geocoder_max_wait_s,
            ),
            language=settings.geocoder_language,
            max_wait_s=settings.geocoder_max_wait_s,
            retry_after_s=settings.retry_after_s,
            clock=clock,
        )

    @property
    def provider(self) -> Provider:
        if self._nominatim is not None:
            return "nominatim"
        return "offline" if self._offline is not None else "none"

    def start(self) -> None:
        """Begins loading the offline data in a worker thread; returns at once."""
        if self._offline is not None:
            self._offline.start()

    async def wait_loaded(self) -> None:
        """Until the offline data has loaded (or failed to); at once for other providers."""
        if self._offline is not None:
            await self._offline.wait_loaded()

    async def aclose(self) -> None:
        if self._offline is not None:
            await self._offline.aclose()
        if self._nominatim is not None:
            await self._nominatim.aclose()

    async def reverse(self, lat: float, lon: float) -> Address | None:
        """The address at a point; None where there is none (or no geocoder is configured)."""
        if self._offline is not None:
            found = await self._offline.reverse(lat, lon)
            metrics.count_geocoding_request("offline", "success" if found else "not_found")
            return found
        if self._nominatim is None:
            return None
        client = self._nominatim
        # The provider gets the point as cached (about 11 m): one cell, one answer, and no more
        # precision about where our users drive than an address needs.
        lat, lon = round(lat, 4), round(lon, 4)
        key = keys.geocode_reverse(lat, lon, self._language)
        hit = await self._cache.get(key, geocache.decode_address)
        if hit is not None:
            metrics.count_geocoding_request("nominatim", "cache_hit")
            return hit.value
        address = await self._call("reverse", lambda: client.reverse(lat, lon))
        metrics.count_geocoding_request("nominatim", "success" if address else "not_found")
        await self._cache.put(key, geocache.encode_address(address), found=address is not None)
        return address

    async def forward(self, query: str, *, limit: int = 5) -> list[Place]:
        """Places matching a text, best first."""
        if self._nominatim is None:
            raise GeocoderUnavailable(FORWARD_NEEDS_URL, retry_after=NOT_CONFIGURED_RETRY_AFTER_S)
        client = self._nominatim
        text = geocache.normalize_query(query)
        if not text:
            return []
        key = keys.geocode_forward(text.casefold(), limit, self._language)
        hit = await self._cache.get(key, geocache.decode_places)
        if hit is not None:
            metrics.count_geocoding_request("nominatim", "cache_hit")
            return hit.value
        places = await self._call("search", lambda: client.search(text, limit))
        metrics.count_geocoding_request("nominatim", "success" if places else "not_found")
        await self._cache.put(key, geocache.encode_places(places), found=bool(places))
        return places

    async def _call(
        self,
        operation: str,
        request: Callable[[], Awaitable[T]],
        *,
        max_wait_s: float | None = None,
        policy: RetryPolicy | None = None,
    ) -> T:
        """One provider call: a rate slot per attempt, retries, the breaker, errors mapped.

        All attempts together wait at most `max_wait_s` for rate slots, so a request handler
        never queues behind a long line of other workers' lookups.
        """
        deadline = self._clock() + (self._max_wait_s if max_wait_s is None else max_wait_s)

        async def attempt() -> T:
            await self._throttle.acquire(max(0.0, deadline - self._clock()))
            try:
                return await request()
            except TransientError as exc:
                if exc.retry_after_s:  # the provider asked us to back off: all workers do
                    await self._throttle.defer(exc.retry_after_s)
                raise

        try:
            result = await call_with_retries(
                attempt, policy=policy or self._policy, breaker=self._breaker
            )
        except SlotUnavailable as exc:
            metrics.count_geocoding_request("nominatim", "rate_limited")
            log.warning("geocoder_rate_limited", operation=operation, wait_s=round(exc.wait_s, 3))
            raise GeocoderUnavailable(
                "Too many geocoding requests right now; try again shortly.", retry_after=exc.wait_s
            ) from None
        except DependencyError as exc:
            metrics.count_geocoding_request("nominatim", "failure")
            raise self._failed(operation, exc) from None
        self._last_error = None
        return result

    def _failed(self, operation: str, exc: DependencyError) -> GeocoderUnavailable:
        self._last_error = str(exc)
        if isinstance(exc, PermanentError):
            log.warning("geocoder_refused", operation=operation, error=str(exc))
            return GeocoderUnavailable(
                f"The geocoder refused the request ({exc}).", retry_after=REFUSED_RETRY_AFTER_S
            )
        log.warning("geocoder_failed", operation=operation, error=str(exc))
        retry_after = exc.retry_after_s or max(
            self._breaker.seconds_until_trial(), self._retry_after_s
        )
        return GeocoderUnavailable(f"The geocoder is unavailable: {exc}.", retry_after=retry_after)

    async def readiness_check(self) -> CheckResult:
        if self._offline is not None:
            return self._offline.readiness()
        if self._nominatim is None:
            return CheckResult(status=CheckStatus.HEALTHY, detail="geocoding disabled")
        await self._probe_if_due(self._nominatim)
        breaker = self._breaker
        if breaker.state is BreakerState.OPEN:
            return CheckResult(
                status=CheckStatus.UNHEALTHY,
                detail=f"nominatim failing ({self._last_error}); circuit open, next try in "
                f"{breaker.seconds_until_trial():.0f} s",
            )
        if breaker.consecutive_failures or self._last_error:
            return CheckResult(
                status=CheckStatus.DEGRADED, detail=f"nominatim recently failed: {self._last_error}"
            )
        return CheckResult(status=CheckStatus.HEALTHY, detail="nominatim answering")

    async def _probe_if_due(self, client: NominatimClient) -> None:
        """Asks the provider's /status now and then, so readiness reflects it without traffic;
        the answer feeds the breaker like any other call."""
        now = self._clock()
        if self._probed_at is not None and now - self._probed_at < PROBE_INTERVAL_S:
            return
        if self._breaker.state is BreakerState.OPEN:
            return
        self._probed_at = now
        # A failure is recorded in the breaker and _last_error; a busy rate limit records nothing.
        with contextlib.suppress(GeocoderUnavailable):
            await self._call(
                "status", client.status, max_wait_s=PROBE_MAX_WAIT_S, policy=_PROBE_POLICY
            )
