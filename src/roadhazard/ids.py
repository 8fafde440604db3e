"""ULIDs (48-bit millisecond time, 80 random bits, Crockford base32): report and session ids.

They sort by creation time as text, which lets the report list break ties between reports
created in the same millisecond by id alone. `ULID_PATTERN` is the one spelling of their shape;
anything else must never reach a Redis key or an image store's key.
"""

from __future__ import annotations

import os
import re
import time

ULID_PATTERN = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
_ULID = re.compile(ULID_PATTERN)
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TIME_MAX = (1 << 48) - 1


def new_ulid(now_ms: int | None = None) -> str:
    """A fresh 26-character ULID for `now_ms` (default: the current time)."""
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    if not 0 <= millis <= _TIME_MAX:
        raise ValueError(f"{millis} ms cannot be encoded in a ULID")
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_ulid(value: str) -> bool:
    return _ULID.fullmatch(value) is not None


def ulid_time_ms(ulid: str) -> int:
    """The millisecond timestamp encoded in a ULID's first ten characters."""
    value = 0
    for char in ulid[:10]:
        value = value * 32 + _ALPHABET.index(char)
    return value
