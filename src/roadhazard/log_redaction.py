"""The last step before a log line is rendered: no secret, and no value of unbounded size.

Tracebacks carry no locals and secrets are `SecretStr`, so a secret should never reach a log
line at all; this is the second line of defence, for a secret that an exception message or a
third-party library's log quotes anyway (redis-py's `auth_args`, a URL in an error).
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

from structlog.types import EventDict, WrappedLogger

REDACTED = "***"
# One value of a line (an exception's text included) is cut to this many characters: a 6 MB
# traceback once held the event loop for 23 s. The tail keeps the exception's own message.
MAX_VALUE_CHARS = 8_000
_MAX_DEPTH = 6

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def secret_spellings(secret: str) -> set[str]:
    """The ways a secret can be written into a message: as is, URL-quoted, or escaped in a
    repr (of a str or of bytes), as exception messages quote tuples like `auth_args`."""
    spellings = {secret, quote(secret, safe=""), repr(secret)[1:-1]}
    with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate cannot be in bytes
        spellings.add(repr(secret.encode())[2:-1])
    return {spelling for spelling in spellings if spelling}


class LogSanitizer:
    """A structlog processor: every string in the event dict, nested ones and the text of an
    exception included, has each secret replaced by `***` and is cut to `max_chars`."""

    def __init__(self, secrets: Iterable[str], *, max_chars: int = MAX_VALUE_CHARS) -> None:
        spellings = {
            spelling for secret in secrets if secret for spelling in secret_spellings(secret)
        }
        # Longest first, so a URL is replaced whole before the password inside it.
        self._secrets = sorted(spellings, key=len, reverse=True)
        self._max_chars = max_chars

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return {key: self._clean(value, 0) for key, value in event_dict.items()}

    def redact(self, text: str) -> str:
        # str.replace per secret scans at memory speed; a regex alternation is several times
        # slower on a large value.
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def _clean(self, value: object, depth: int) -> object:
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth < _MAX_DEPTH and isinstance(value, Mapping):
            return {str(k): self._clean(v, depth + 1) for k, v in value.items()}
        if depth < _MAX_DEPTH and isinstance(value, list | tuple | set | frozenset):
            return [self._clean(item, depth + 1) for item in value]
        # Anything else is rendered by its repr anyway; taking it here lets it be redacted.
        text = value if isinstance(value, str) else repr(value)
        # Redacted before the cut, so a secret across the cut cannot survive in part.
        return cut(self.redact(text), self._max_chars)


def cut(text: str, max_chars: int) -> str:
    """`text` within about `max_chars`: a quarter from its start, the rest from its end."""
    if len(text) <= max_chars:
        return text
    head = max_chars // 4
    tail = max_chars - head
    return f"{text[:head]} [... {len(text) - max_chars} characters cut ...] {text[-tail:]}"


def exception_as_text(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Replaces `exc_info` by `exception`: the plain traceback, frames and source lines only.

    For the console renderer, whose own formatters print each frame's locals (the request's
    headers, an API key among them) and spend seconds on rich rendering of large values.
    """
    exc_info = _exc_info(event_dict.pop("exc_info", None))
    if exc_info is not None:
        event_dict["exception"] = "".join(traceback.format_exception(*exc_info)).rstrip()
    return event_dict


def _exc_info(value: Any) -> ExcInfo | None:
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and value[1] is not None:
        return (value[0], value[1], value[2])
    if value is True:
        exc_type, exc, tb = sys.exc_info()
        return None if exc_type is None or exc is None else (exc_type, exc, tb)
    return None
