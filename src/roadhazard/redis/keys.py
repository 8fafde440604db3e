"""Every Redis key the service uses is built here, and only here.

All keys start with `rh:`, so a Redis shared with other software can be scanned and cleaned by
prefix. Names are `rh:{<hash tag>}:<part>...`.

Redis Cluster: a cluster stores a key by the hash of its `{...}` tag alone, and a MULTI/EXEC,
WATCH or Lua script may only touch keys in one slot. So keys that change together share a tag:

- one driving session: `rh:{session:<id>}:meta`, `...:tracks`, `...:idem:<hash>`; sessions
  spread across the cluster;
- reports and every index over them: `rh:{reports}:...`; creating, linking or resolving a
  report updates the report, the time index, a geo index and the stats in one transaction.
  All reports thus live in one slot (one shard), which suits a city's hazards; should that
  outgrow a shard, the tag would become a region (e.g. `{reports:<geohash prefix>}`).

Work that spans a session and a report (a new detection that becomes a report) is two
transactions, each idempotent, not one: that keeps the layout valid on a cluster.

Time to live: everything except a report and its indexes and stats expires; the TTLs are set by
the services that write the keys.

Each domain builds its own keys on these rules: `sessions.keys`, `reports.keys`,
`ratelimit.keys` and `geocoding.keys`.
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "rh:"

# Ids and class names go into keys verbatim: no braces (they would move the hash tag), no colons
# (they would let one id spell another key), no spaces or control characters.
_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def key_part(kind: str, value: str) -> str:
    """`value` as it may go into a key verbatim, else a ValueError."""
    if not _ID.fullmatch(value):
        raise ValueError(f"{kind} {value!r} cannot be part of a Redis key")
    return value


def digest(client_key: str) -> str:
    """Client-chosen keys are hashed: any text is accepted and the key length stays bounded."""
    return hashlib.sha256(client_key.encode("utf-8")).hexdigest()


_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def class_token(class_name: str) -> str:
    """The key-safe form of a hazard class: a code as is, any other model name as a digest."""
    if _SAFE_TOKEN.fullmatch(class_name):
        return class_name
    return "x-" + digest(class_name)[:24]
