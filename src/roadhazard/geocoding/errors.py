"""The one exception geocoding raises to its callers."""

from __future__ import annotations

import math

from roadhazard.errors import ServiceUnavailable


class GeocoderUnavailable(ServiceUnavailable):
    """No answer now: the provider failed or is rate limited, or the offline data is loading.

    The caller should try again after `retry_after` seconds; an API client gets a 503
    problem+json with that Retry-After.
    """

    def __init__(self, detail: str, *, retry_after: float) -> None:
        # Retry-After is whole seconds (RFC 9110), and zero would invite a hot retry loop.
        super().__init__(detail, retry_after=max(1, math.ceil(retry_after)))
