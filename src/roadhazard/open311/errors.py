"""Every error under /open311/ in GeoReport v2's error format: `[{"code": 403, "description":
"…"}]`, or `<errors><error><code>…`, in the format the path's extension names (JSON for an
unknown one).

The specification's statuses: 403 for a missing or wrong api_key (our 401), 404 for what does
not exist, and 400 for any other request that cannot be fulfilled (our 422). Statuses with a
meaning of their own for HTTP clients (405, 409, 413, 415, 429, 503) are kept, with their
headers (Retry-After, RateLimit, Allow). A validation failure lists each field's error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from roadhazard.error_handlers import ErrorAnswer
from roadhazard.open311.rendering import format_of_path, respond
from roadhazard.open311.schemas import ErrorOut

# The paths whose errors are written so: every Open311 path, known or not.
OPEN311_PATHS = "/open311/"
OPEN311_STATUS = {401: 403, 422: 400}
_LOCATIONS = {"body", "query", "path", "header"}


def render_error(request: Request, answer: ErrorAnswer) -> Response:
    status = OPEN311_STATUS.get(answer.status, answer.status)
    headers = {
        name: value
        for name, value in answer.headers.items()
        # A challenge belongs to a 401; Open311 answers 403 and takes the key as api_key.
        if name.lower() != "www-authenticate"
    }
    descriptions = [_described(error) for error in answer.errors] or [answer.detail]
    body = [ErrorOut(code=status, description=text).model_dump() for text in descriptions]
    return respond(
        format_of_path(request.url.path), "errors", body, status_code=status, headers=headers
    )


def _described(error: Mapping[str, Any]) -> str:
    """ "start_date: Input should be…", from an error's location (without where in the request
    it was) and message."""
    loc = [str(part) for part in error.get("loc", [])]
    if loc and loc[0] in _LOCATIONS:
        loc = loc[1:]
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    return f"{'.'.join(loc)}: {message}" if loc else message
